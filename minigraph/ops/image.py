"""Image ops: lrn (local response normalisation across channels) and the resizes
nearest_interp / bilinear_interp, with Paddle's coordinate conventions.

A resize is linear in its input and separable: Out = M_h . X . M_w^T over the spatial axes,
with one small [out, in] matrix per axis (one-hot rows for nearest, two weights per row for
bilinear). The gradient is the transposed maps, M_h^T . dOut . M_w.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from minigraph.errors import GraphBuildError
from minigraph.ops.common import register_with_grad, require_float
from minigraph.types import shape_text

# --- lrn -------------------------------------------------------------------------------------


def _window_sum(a: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """s[:, c] = sum of a[:, c + lo .. c + hi] over the channels that exist (axis 1)."""
    c = a.shape[1]
    pad = [(0, 0)] * a.ndim
    pad[1] = (max(-lo, 0) + 1, max(hi, 0))
    cs = np.cumsum(np.pad(a, pad), axis=1)
    start = np.arange(c) + lo + max(-lo, 0)  # index in the padded cumsum before the window
    return np.take(cs, start + (hi - lo) + 1, axis=1) - np.take(cs, start, axis=1)


def _lrn_infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    x = ins["X"]
    require_float(x, "lrn: X")
    if len(x.shape) != 4:
        raise GraphBuildError(f"X {x.name!r} must be 4-D [N, C, H, W], got {shape_text(x.shape)}")
    if attrs["n"] < 1 or attrs["data_format"] != "NCHW":
        raise GraphBuildError(f"n must be positive and data_format 'NCHW', got n={attrs['n']}, {attrs['data_format']}")
    return {"Out": (x.shape, x.dtype), "MidOut": (x.shape, x.dtype)}


def _lrn_window(a: dict[str, Any]) -> tuple[int, int]:
    """Channel c sums channels c - pre .. c - pre + n - 1, pre = (n - 1) // 2, as Paddle."""
    pre = (a["n"] - 1) // 2
    return -pre, a["n"] - 1 - pre


def _lrn(a: dict[str, Any], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = _lrn_window(a)
    mid = np.asarray(a["k"], x.dtype) + np.asarray(a["alpha"], x.dtype) * _window_sum(x * x, lo, hi)
    return x * mid ** np.asarray(-a["beta"], x.dtype), mid


def _lrn_grad(a: dict[str, Any], x: np.ndarray, out: np.ndarray, mid: np.ndarray, d: np.ndarray) -> tuple[np.ndarray]:
    # out_j = x_j * mid_j^-beta with mid_j summing x_i^2 over the window of j, so
    # dx_i = d_i * mid_i^-beta - 2 alpha beta x_i * sum_{j whose window holds i} d_j out_j / mid_j.
    lo, hi = _lrn_window(a)
    beta = np.asarray(a["beta"], x.dtype)
    back = _window_sum(d * out / mid, -hi, -lo)
    return (d * mid**-beta - 2 * np.asarray(a["alpha"], x.dtype) * beta * x * back,)


register_with_grad(
    "lrn",
    ("X",),
    ("Out", "MidOut"),
    _lrn,
    _lrn_infer,
    _lrn_grad,
    attrs={"n": 5, "k": 2.0, "alpha": 1e-4, "beta": 0.75, "data_format": "NCHW"},
    reads_outputs=("Out", "MidOut"),
)

# --- nearest_interp / bilinear_interp --------------------------------------------------------

INTERP_ATTRS = {
    "out_h": -1,
    "out_w": -1,
    "scale": 0.0,
    "interp_method": "",
    "align_corners": True,
    "align_mode": 1,
    "data_layout": "NCHW",
}


def _axes(attrs: dict[str, Any]) -> tuple[int, int]:
    return (2, 3) if attrs["data_layout"] == "NCHW" else (1, 2)


def _out_size(attrs: dict[str, Any], in_h: int, in_w: int) -> tuple[int, int]:
    if attrs["out_h"] > 0 and attrs["out_w"] > 0:
        return attrs["out_h"], attrs["out_w"]
    if attrs["scale"] <= 0:
        raise GraphBuildError("give out_h and out_w, or a positive scale")
    return tuple(-1 if n < 0 else int(n * attrs["scale"]) for n in (in_h, in_w))  # type: ignore[return-value]


def _ratio(n_in: int, n_out: int, align_corners: bool) -> float:
    if n_out <= 1:
        return 0.0
    return (n_in - 1) / (n_out - 1) if align_corners else n_in / n_out


def _nearest_matrix(n_in: int, n_out: int, a: dict[str, Any]) -> np.ndarray:
    ratio = _ratio(n_in, n_out, a["align_corners"])
    k = np.arange(n_out)
    src = (ratio * k + 0.5 if a["align_corners"] else ratio * k).astype(np.int64)
    m = np.zeros((n_out, n_in))
    m[k, np.minimum(src, n_in - 1)] = 1.0
    return m


def _bilinear_matrix(n_in: int, n_out: int, a: dict[str, Any]) -> np.ndarray:
    ratio = _ratio(n_in, n_out, a["align_corners"])
    half_pixel = a["align_mode"] == 0 and not a["align_corners"]
    k = np.arange(n_out)
    centre = np.maximum(ratio * (k + 0.5) - 0.5, 0.0)
    lo = (centre if half_pixel else ratio * k).astype(np.int64)  # truncation, as Paddle's int()
    lo = np.minimum(lo, n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    w_hi = (centre if half_pixel else ratio * k) - lo
    m = np.zeros((n_out, n_in))
    np.add.at(m, (k, lo), 1.0 - w_hi)
    np.add.at(m, (k, hi), w_hi)
    return m


def _register_interp(op: str, matrix: Any) -> None:
    def maps(a: dict[str, Any], shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
        h, w = (shape[i] for i in _axes(a))
        oh, ow = _out_size(a, h, w)
        return matrix(h, oh, a), matrix(w, ow, a)

    def spec(a: dict[str, Any]) -> str:
        return "ncij,oi,pj->ncop" if a["data_layout"] == "NCHW" else "nijc,oi,pj->nopc"

    def infer(ins: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
        x = ins["X"]
        require_float(x, f"{op}: X")
        if len(x.shape) != 4 or attrs["data_layout"] not in ("NCHW", "NHWC"):
            raise GraphBuildError(f"X {x.name!r} must be 4-D NCHW or NHWC, got {shape_text(x.shape)}")
        h, w = _axes(attrs)
        shape = list(x.shape)
        shape[h], shape[w] = _out_size(attrs, x.shape[h], x.shape[w])
        return {"Out": (tuple(shape), x.dtype)}

    def kernel(a: dict[str, Any], x: np.ndarray) -> tuple[np.ndarray]:
        mh, mw = maps(a, x.shape)
        return (np.einsum(spec(a), x, mh.astype(x.dtype), mw.astype(x.dtype), optimize=True),)

    def grad_kernel(a: dict[str, Any], x: np.ndarray, d: np.ndarray) -> tuple[np.ndarray]:
        mh, mw = maps(a, x.shape)
        inputs, output = spec(a).split("->")
        back = f"{output},{inputs.split(',')[1]},{inputs.split(',')[2]}->{inputs.split(',')[0]}"
        return (np.einsum(back, d, mh.astype(d.dtype), mw.astype(d.dtype), optimize=True),)

    register_with_grad(op, ("X",), ("Out",), kernel, infer, grad_kernel, attrs=INTERP_ATTRS)


_register_interp("nearest_interp", _nearest_matrix)
_register_interp("bilinear_interp", _bilinear_matrix)
