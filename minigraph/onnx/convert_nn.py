"""ONNX converters for conv2d, pool2d, batch_norm and dropout (test mode).

ONNX's Conv/Pool work on NCHW; an NHWC op is wrapped in two Transposes. Window geometry
(SAME/VALID/explicit padding, 2- or 4-element paddings) comes from the kernels' own
`minigraph.ops.spatial.geometry`, so both sides agree on every pad by construction.

pool2d with ceil_mode differs from ONNX Runtime where the windows reach past the padded
input: ORT drops a last window that starts in the padding (PyTorch's rule), Paddle keeps
it. Such pools are emitted without ceil_mode, the far padding extended to cover every
window; average pooling then divides as Paddle does (exclusive: by the real elements;
exclusive=False: by the window clipped to the padded input, padding cells counting, cells
past the border not), spelled with an explicit Pad where ONNX's count_include_pad would
count the extension too. A window that covers no input element at all (padding >= kernel,
or a ceil_mode window wholly in the padding) is refused: its value (-inf, or 0) is an
artefact of the padding, not of the input.
"""

from __future__ import annotations

from minigraph.ir.operator import Operator
from minigraph.onnx.emitter import Emitter, converts
from minigraph.ops.norm import uses_batch_stats
from minigraph.ops.spatial import Geometry, geometry

TO_NCHW, TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]


def _onnx_pads(pads: tuple[int, int, int, int], extra: tuple[int, int] = (0, 0)) -> list[int]:
    """minigraph's [top, bottom, left, right] (+ extra at the far ends) as ONNX's
    [top, left, bottom, right]."""
    t, b, left, r = pads
    return [t, left, b + extra[0], r + extra[1]]


def _nchw_input(e: Emitter, op: Operator, slot: str, fmt: str) -> tuple[str, tuple[int, int]]:
    x, shape = e.input(op, slot), e.in_var(op, slot).shape
    if fmt == "NHWC":
        return e.transpose(x, TO_NCHW), (shape[1], shape[2])
    return x, (shape[2], shape[3])


def _nchw_output(
    e: Emitter, op: Operator, slot: str, fmt: str, onnx_type: str, inputs: list[str], **attrs: object
) -> None:
    """Emit `onnx_type` over NCHW `inputs` into output `slot`, transposed back for NHWC."""
    out = e.output(op, slot)
    if fmt == "NHWC":
        e.transpose(e.node1(onnx_type, inputs, **attrs), TO_NHWC, out)
    else:
        e.node(onnx_type, inputs, [out], **attrs)


@converts("conv2d")
def _conv2d(e: Emitter, op: Operator) -> None:
    fmt = op.attr("data_format")
    x, hw = _nchw_input(e, op, "Input", fmt)
    kernel = list(e.in_var(op, "Filter").shape[2:])
    attrs: dict[str, object] = {"group": op.attr("groups"), "kernel_shape": kernel}
    if op.attr("padding_algorithm") == "SAME" and min(hw) < 0:
        # Paddle's SAME puts the odd padding cell at the end: ONNX's SAME_UPPER.
        attrs.update(auto_pad="SAME_UPPER", strides=op.attr("strides"), dilations=[1, 1])
    else:
        g = geometry(
            hw, kernel, op.attr("strides"), op.attr("dilations"), op.attr("paddings"), op.attr("padding_algorithm")
        )
        attrs.update(pads=_onnx_pads(g.pads), strides=list(g.strides), dilations=list(g.dilations))
    _nchw_output(e, op, "Output", fmt, "Conv", [x, e.input(op, "Filter")], **attrs)


# --- pool2d ----------------------------------------------------------------------------------


@converts("pool2d")
def _pool2d(e: Emitter, op: Operator) -> None:
    fmt, is_max = op.attr("data_format"), op.attr("pooling_type") == "max"
    x, hw = _nchw_input(e, op, "X", fmt)
    if op.attr("global_pooling"):
        _nchw_output(e, op, "Out", fmt, "GlobalMaxPool" if is_max else "GlobalAveragePool", [x])
        return
    kernel, strides = list(op.attr("ksize")), list(op.attr("strides"))
    algorithm, ceil_mode = op.attr("padding_algorithm"), op.attr("ceil_mode")
    known = min(hw) >= 0
    if not known and (ceil_mode or algorithm == "SAME"):
        if ceil_mode:
            raise e.fail(op, "ceil_mode pooling needs the input's height and width, which are unknown")
        attrs: dict[str, object] = {"auto_pad": "SAME_UPPER", "kernel_shape": kernel, "strides": strides}
        if not is_max:
            attrs["count_include_pad"] = int(not op.attr("exclusive"))
        _nchw_output(e, op, "Out", fmt, "MaxPool" if is_max else "AveragePool", [x], **attrs)
        return
    g = geometry(hw, kernel, strides, [1, 1], op.attr("paddings"), algorithm, ceil_mode)
    _check_windows(e, op, g, hw, known)
    extra = _overflow(g, hw) if known else (0, 0)
    attrs = {"kernel_shape": kernel, "strides": strides}
    if is_max:  # MaxPool never lets padding win, as the kernel (which pads with -inf)
        _nchw_output(e, op, "Out", fmt, "MaxPool", [x], pads=_onnx_pads(g.pads, extra), **attrs)
    elif op.attr("exclusive"):  # divide by the real elements of each window
        pads = _onnx_pads(g.pads, extra)
        _nchw_output(e, op, "Out", fmt, "AveragePool", [x], pads=pads, count_include_pad=0, **attrs)
    elif extra == (0, 0):  # every window lies inside the padded input: divide by kh*kw
        _nchw_output(e, op, "Out", fmt, "AveragePool", [x], pads=_onnx_pads(g.pads), count_include_pad=1, **attrs)
    else:  # padding cells count, cells past the padded border do not
        t, b, left, r = g.pads
        padded = e.node1("Pad", [x, e.ints([0, 0, t, left, 0, 0, b, r], "pads")], mode="constant")
        pads = _onnx_pads((0, 0, 0, 0), extra)
        _nchw_output(e, op, "Out", fmt, "AveragePool", [padded], pads=pads, count_include_pad=0, **attrs)


def _overflow(g: Geometry, hw: tuple[int, int]) -> tuple[int, int]:
    """How far ceil_mode windows reach past the padded input, per spatial axis."""
    return (
        max(g.span(0) - (hw[0] + g.pads[0] + g.pads[1]), 0),
        max(g.span(1) - (hw[1] + g.pads[2] + g.pads[3]), 0),
    )


def _check_windows(e: Emitter, op: Operator, g: Geometry, hw: tuple[int, int], known: bool) -> None:
    for i, what in enumerate(("height", "width")):
        k, s, before, after = g.kernel[i], g.strides[i], g.pads[2 * i], g.pads[2 * i + 1]
        if before >= k or (known and (g.out[i] - 1) * s - before >= hw[i]):
            raise e.fail(
                op,
                f"along the {what} some pooling windows cover no input element (kernel {k}, stride {s}, padding "
                f"{before}/{after}{', ceil_mode' if op.attr('ceil_mode') else ''}): their value would come from the "
                f"padding alone",
            )
        if after >= k:
            raise e.fail(op, f"the {what} padding {after} is not smaller than the kernel {k}, which ONNX refuses")


# --- batch_norm and dropout --------------------------------------------------------------------


@converts("batch_norm")
def _batch_norm(e: Emitter, op: Operator) -> None:
    rank = len(e.in_var(op, "X").shape)
    axis = 1 if op.attr("data_layout") == "NCHW" or rank == 2 else rank - 1
    x, out = e.input(op, "X"), e.output(op, "Y")
    scale, bias, mean, var = (e.input(op, s) for s in ("Scale", "Bias", "Mean", "Variance"))
    if uses_batch_stats(op.attrs):  # is_test with trainable_statistics: this batch's statistics
        _batch_statistics(e, op, x, axis, rank, scale, bias, out)
        return
    eps = float(op.attr("epsilon"))
    if axis == 1:
        e.node("BatchNormalization", [x, scale, bias, mean, var], [out], epsilon=eps)
        return
    to_first = [0, axis] + [i for i in range(1, rank) if i != axis]
    back = [to_first.index(i) for i in range(rank)]
    y = e.node1("BatchNormalization", [e.transpose(x, to_first), scale, bias, mean, var], epsilon=eps)
    e.transpose(y, back, out)


def _batch_statistics(e: Emitter, op: Operator, x: str, axis: int, rank: int, scale: str, bias: str, out: str) -> None:
    """The kernel's batch-statistics formula: biased two-pass variance from the centred
    values, then (x - mean) * (scale / sqrt(var + eps)) + bias."""
    dtype = e.in_var(op, "X").dtype
    others = [i for i in range(rank) if i != axis]
    mean = e.reduce("ReduceMean", x, others, True)
    centred = e.node1("Sub", [x, mean])
    var = e.reduce("ReduceMean", e.node1("Mul", [centred, centred]), others, True)
    std = e.node1("Sqrt", [e.node1("Add", [var, e.scalar(op.attr("epsilon"), dtype, "eps")])])
    inv_std = e.node1("Reciprocal", [std])
    # unit dims everywhere but `axis` put the per-channel vectors on the channel axis
    gain = e.node1("Mul", [inv_std, e.unsqueeze(scale, others)])
    e.node("Add", [e.node1("Mul", [centred, gain]), e.unsqueeze(bias, others)], [out])


@converts("dropout")
def _dropout(e: Emitter, op: Operator) -> None:
    x, out = e.input(op, "X"), e.output(op, "Out")
    if op.attr("dropout_implementation") == "upscale_in_train":
        e.node("Identity", [x], [out])  # scaled in training, so the identity in test mode
        return
    keep = 1.0 - op.attr("dropout_prob")  # downgrade_in_infer: scale by the keep rate
    e.node("Mul", [x, e.scalar(keep, e.in_var(op, "X").dtype, "keep")], [out])
