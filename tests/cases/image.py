"""Cases for minigraph/ops/conv_transpose.py and minigraph/ops/image.py, against loop-based
numpy references written from the definitions."""

import numpy as np

from minigraph.testing import OpCase

rng = np.random.default_rng(16)


def _conv_transpose(i, a):
    """Scatter every input pixel's filter-weighted patch into the output, then crop pads."""
    x, w = i["Input"], i["Filter"]
    s, p, d = a.get("strides", [1, 1]), a.get("paddings", [0, 0]), a.get("dilations", [1, 1])
    groups = a.get("groups", 1)
    n, c, h, wd = x.shape
    k = w.shape[2:]
    cg, og = c // groups, w.shape[1]
    full = np.zeros((n, og * groups, (h - 1) * s[0] + d[0] * (k[0] - 1) + 1, (wd - 1) * s[1] + d[1] * (k[1] - 1) + 1))
    for g in range(groups):
        xs, ws = x[:, g * cg : (g + 1) * cg], w[g * cg : (g + 1) * cg]
        for r in range(h):
            for q in range(wd):
                patch = np.einsum("nc,cokl->nokl", xs[:, :, r, q], ws)
                rows = slice(r * s[0], r * s[0] + d[0] * (k[0] - 1) + 1, d[0])
                cols = slice(q * s[1], q * s[1] + d[1] * (k[1] - 1) + 1, d[1])
                full[:, g * og : (g + 1) * og, rows, cols] += patch
    out = full[:, :, p[0] : full.shape[2] - p[0], p[1] : full.shape[3] - p[1]]
    if a.get("output_size"):
        out = np.pad(
            out, [(0, 0), (0, 0), (0, a["output_size"][0] - out.shape[2]), (0, a["output_size"][1] - out.shape[3])]
        )
    return {"Output": out}


def _lrn(i, a):
    x, n = i["X"], a.get("n", 5)
    pre = (n - 1) // 2
    mid = np.full(x.shape, a.get("k", 2.0))
    for c in range(x.shape[1]):
        for j in range(c - pre, c - pre + n):
            if 0 <= j < x.shape[1]:
                mid[:, c] += a.get("alpha", 1e-4) * x[:, j] ** 2
    return {"Out": x * mid ** -a.get("beta", 0.75), "MidOut": mid}


def _resize_ref(i, a, method):
    x = i["X"]
    n, c, h, w = x.shape
    oh, ow = a["out_h"], a["out_w"]
    corners, mode = a.get("align_corners", True), a.get("align_mode", 1)
    out = np.zeros((n, c, oh, ow))

    def ratio(i_, o_):
        return 0.0 if o_ <= 1 else ((i_ - 1) / (o_ - 1) if corners else i_ / o_)

    rh, rw = ratio(h, oh), ratio(w, ow)
    for k in range(oh):
        for m in range(ow):
            if method == "nearest":
                out[:, :, k, m] = x[
                    :, :, int(rh * k + 0.5) if corners else int(rh * k), int(rw * m + 0.5) if corners else int(rw * m)
                ]
                continue
            pts = []
            for r, kk, size in ((rh, k, h), (rw, m, w)):
                half = mode == 0 and not corners
                src = max(r * (kk + 0.5) - 0.5, 0) if half else r * kk
                lo = int(src)
                pts.append((lo, min(lo + 1, size - 1), src - lo))
            (y0, y1, dy), (x0, x1, dx) = pts
            out[:, :, k, m] = (
                x[:, :, y0, x0] * (1 - dy) * (1 - dx)
                + x[:, :, y1, x0] * dy * (1 - dx)
                + x[:, :, y0, x1] * (1 - dy) * dx
                + x[:, :, y1, x1] * dy * dx
            )
    return {"Out": out}


img = rng.normal(size=(2, 3, 4, 5))
small = rng.normal(size=(1, 2, 3, 3))

CASES = [
    OpCase(
        "conv2d_transpose",
        {"Input": rng.normal(size=(2, 3, 3, 4)), "Filter": rng.normal(size=(3, 2, 3, 3))},
        ref=_conv_transpose,
    ),
    OpCase(
        "conv2d_transpose",
        {"Input": rng.normal(size=(1, 4, 3, 3)), "Filter": rng.normal(size=(4, 1, 2, 3))},
        {"strides": [2, 2], "paddings": [1, 1], "groups": 2, "dilations": [1, 2]},
        ref=_conv_transpose,
        name="stride_pad_groups_dilation",
    ),
    OpCase(
        "conv2d_transpose",
        {"Input": rng.normal(size=(1, 2, 3, 3)), "Filter": rng.normal(size=(2, 2, 3, 3))},
        {"strides": [2, 2], "output_size": [8, 8]},
        ref=_conv_transpose,
        name="output_size",
    ),
    OpCase("lrn", {"X": img}, {"n": 3, "k": 1.0, "alpha": 0.1, "beta": 0.75}, ref=_lrn, outputs=("Out",)),
    OpCase(
        "lrn",
        {"X": rng.normal(size=(2, 6, 2, 2))},
        {"n": 4, "alpha": 0.2},
        ref=_lrn,
        outputs=("Out",),
        name="even_window",
    ),
    OpCase("lrn", {"X": img}, ref=_lrn, grad=(), name="midout"),
    OpCase(
        "nearest_interp",
        {"X": img},
        {"out_h": 7, "out_w": 3, "interp_method": "nearest"},
        ref=lambda i, a: _resize_ref(i, a, "nearest"),
    ),
    OpCase(
        "nearest_interp",
        {"X": img},
        {"out_h": 8, "out_w": 10, "align_corners": False},
        ref=lambda i, a: _resize_ref(i, a, "nearest"),
        name="no_align",
    ),
    OpCase("bilinear_interp", {"X": small}, {"out_h": 5, "out_w": 4}, ref=lambda i, a: _resize_ref(i, a, "bilinear")),
    OpCase(
        "bilinear_interp",
        {"X": small},
        {"out_h": 6, "out_w": 2, "align_corners": False, "align_mode": 0},
        ref=lambda i, a: _resize_ref(i, a, "bilinear"),
        name="half_pixel",
    ),
    OpCase(
        "bilinear_interp",
        {"X": small},
        {"scale": 2.0, "align_corners": False, "align_mode": 1},
        ref=lambda i, a: _resize_ref(i, {**a, "out_h": 6, "out_w": 6}, "bilinear"),
        name="scale_align_mode1",
    ),
    OpCase(
        "bilinear_interp",
        {"X": small.transpose(0, 2, 3, 1)},
        {"out_h": 5, "out_w": 4, "data_layout": "NHWC"},
        ref=lambda i, a: {
            "Out": _resize_ref({"X": i["X"].transpose(0, 3, 1, 2)}, a, "bilinear")["Out"].transpose(0, 2, 3, 1)
        },
        name="nhwc",
    ),
]
