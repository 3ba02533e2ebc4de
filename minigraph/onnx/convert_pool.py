"""The ONNX converter for pool2d, where ONNX's defaults differ from Paddle's the most.

- ceil_mode: ONNX Runtime drops a last window that starts in the padding (PyTorch's rule);
  Paddle keeps it. So pools are emitted without ceil_mode, with the far padding set to
  exactly what the windows reach past the input (`far` below): the same windows, counted
  the same way, in floor mode.
- ONNX Runtime refuses a padding as large as the kernel, and divides a window that holds
  no real element by zero; Paddle's average there is 0. And with exclusive=False Paddle
  divides by the window clipped to the *padded* input (padding counts, ceil_mode's overhang
  past it does not), which count_include_pad only matches when nothing overhangs.
  Where the native op cannot say it, average pooling is spelled out: an explicit zero Pad,
  an AveragePool over it (sum / kh*kw), times a constant kh*kw / divisor, the divisor from
  the kernel's own rule (`minigraph.ops.pool._avg_divisor`).
- Max pooling over a window with no real element gives -inf in minigraph, which MaxPool
  cannot produce: that pool is refused.
"""

from __future__ import annotations

import numpy as np

from minigraph.ir.operator import Operator
from minigraph.onnx.convert_nn import nchw_input, nchw_output
from minigraph.onnx.emitter import Emitter, converts
from minigraph.ops.pool import _avg_divisor  # the kernel's divisor rule: both agree by construction
from minigraph.ops.spatial import Geometry, geometry


@converts("pool2d")
def _pool2d(e: Emitter, op: Operator) -> None:
    fmt, is_max = op.attr("data_format"), op.attr("pooling_type") == "max"
    x, hw = nchw_input(e, op, "X", fmt)
    if op.attr("global_pooling"):
        nchw_output(e, op, "Out", fmt, "GlobalMaxPool" if is_max else "GlobalAveragePool", [x])
        return
    kernel, strides = list(op.attr("ksize")), list(op.attr("strides"))
    algorithm, ceil_mode = op.attr("padding_algorithm"), op.attr("ceil_mode")
    known = min(hw) >= 0
    attrs: dict[str, object] = {"kernel_shape": kernel, "strides": strides}
    if not known and (ceil_mode or algorithm == "SAME"):
        if ceil_mode:
            raise e.fail(op, "ceil_mode pooling needs the input's height and width, which are unknown")
        if not is_max:  # Paddle's SAME puts the odd padding cell at the end: SAME_UPPER
            attrs["count_include_pad"] = int(not op.attr("exclusive"))
        nchw_output(e, op, "Out", fmt, "MaxPool" if is_max else "AveragePool", [x], auto_pad="SAME_UPPER", **attrs)
        return
    g = geometry(hw, kernel, strides, [1, 1], op.attr("paddings"), algorithm, ceil_mode)
    near = (g.pads[0], g.pads[2])
    # what the windows reach past the input; without known sizes, floor mode's declared padding
    far = tuple(max(g.span(i) - hw[i] - near[i], 0) for i in (0, 1)) if known else (g.pads[1], g.pads[3])
    pads = [near[0], near[1], far[0], far[1]]
    # a window holds a real element iff the first starts, and the last ends, inside the input
    every_window_real = all(near[i] < kernel[i] and far[i] < kernel[i] for i in (0, 1))
    if every_window_real and is_max:  # MaxPool never lets padding win, as the kernel's -inf padding
        nchw_output(e, op, "Out", fmt, "MaxPool", [x], pads=pads, **attrs)
        return
    overhang = any(far[i] > g.pads[2 * i + 1] for i in (0, 1))  # ceil_mode windows past the padded input
    if every_window_real and (op.attr("exclusive") or not overhang):
        include = int(not op.attr("exclusive"))
        nchw_output(e, op, "Out", fmt, "AveragePool", [x], pads=pads, count_include_pad=include, **attrs)
        return
    if is_max:
        raise e.fail(op, _empty_windows(g, hw, near, far) + ": minigraph gives -inf there, which MaxPool cannot")
    if not known:
        raise e.fail(op, f"a padding {list(g.pads)} not smaller than the kernel {kernel} needs a known input size")
    _average_by_divisor(e, op, x, fmt, g, hw, pads)


def _empty_windows(g: Geometry, hw: tuple[int, int], near: tuple[int, int], far: tuple[int, ...]) -> str:
    axis = next(i for i in (0, 1) if near[i] >= g.kernel[i] or far[i] >= g.kernel[i])
    what = ("height", "width")[axis]
    return (
        f"along the {what} some pooling windows cover no input element (input {hw[axis]}, kernel {g.kernel[axis]}, "
        f"stride {g.strides[axis]}, padding {g.pads[2 * axis]}/{g.pads[2 * axis + 1]})"
    )


def _average_by_divisor(
    e: Emitter, op: Operator, x: str, fmt: str, g: Geometry, hw: tuple[int, int], pads: list[int]
) -> None:
    """sum / divisor as AveragePool over an explicitly zero-padded input (every window lies
    inside it, so it divides by kh*kw) times the constant kh*kw / divisor."""
    dtype = e.in_var(op, "X").dtype
    t, left, b, r = pads
    padded = e.node1("Pad", [x, e.ints([0, 0, t, left, 0, 0, b, r], "pads")], mode="constant")
    mean = e.node1("AveragePool", [padded], kernel_shape=list(g.kernel), strides=list(g.strides))
    nchw_attrs = {**op.attrs, "data_format": "NCHW"}
    divisor = np.broadcast_to(_avg_divisor(nchw_attrs, (1, 1, *hw), g), g.out)
    rescale = e.const((g.kernel[0] * g.kernel[1] / divisor).astype(dtype), "rescale")
    out = e.output(op, "Out")
    if fmt == "NHWC":
        e.transpose(e.node1("Mul", [mean, rescale]), [0, 2, 3, 1], out)
    else:
        e.node("Mul", [mean, rescale], [out])
