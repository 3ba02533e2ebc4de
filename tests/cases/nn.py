"""Cases for minigraph/ops/conv.py, pool.py and dropout.py: conv2d, pool2d, dropout.

The references are deliberately naive direct loops over output positions, written from
Paddle's definitions (not from the strided-view kernels they check)."""

import numpy as np

from minigraph.testing import OpCase

rng = np.random.default_rng(7)


def pads4(paddings):
    p = list(paddings)
    return [p[0], p[0], p[1], p[1]] if len(p) == 2 else p


def same_pads(n, k, s):
    """Paddle's SAME padding for one dim: out = ceil(n / s), the extra split low/high."""
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return [total // 2, total - total // 2]


def conv2d_ref(x, w, strides=(1, 1), paddings=(0, 0), dilations=(1, 1), groups=1, data_format="NCHW", algo="EXPLICIT"):
    """Direct convolution: for every output element, sum input * filter over its window."""
    if data_format == "NHWC":
        x = x.transpose(0, 3, 1, 2)
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    if algo == "SAME":
        top, bottom = same_pads(h, kh, strides[0])
        left, right = same_pads(wd, kw, strides[1])
        dilations = (1, 1)
    elif algo == "VALID":
        top = bottom = left = right = 0
        dilations = (1, 1)
    else:
        top, bottom, left, right = pads4(paddings)
    xp = np.zeros((n, c, h + top + bottom, wd + left + right), dtype=x.dtype)
    xp[:, :, top : top + h, left : left + wd] = x
    (sh, sw), (dh, dw) = strides, dilations
    oh = (xp.shape[2] - (dh * (kh - 1) + 1)) // sh + 1
    ow = (xp.shape[3] - (dw * (kw - 1) + 1)) // sw + 1
    og = o // groups
    out = np.zeros((n, o, oh, ow), dtype=x.dtype)
    for b in range(n):
        for oc in range(o):
            g = oc // og
            for i in range(oh):
                for j in range(ow):
                    acc = 0.0
                    for ci in range(cg):
                        for a in range(kh):
                            for e in range(kw):
                                acc += xp[b, g * cg + ci, i * sh + a * dh, j * sw + e * dw] * w[oc, ci, a, e]
                    out[b, oc, i, j] = acc
    return out if data_format == "NCHW" else out.transpose(0, 2, 3, 1)


def pool2d_ref(
    x,
    ksize=(1, 1),
    strides=(1, 1),
    paddings=(0, 0),
    pooling_type="max",
    global_pooling=False,
    ceil_mode=False,
    exclusive=True,
    data_format="NCHW",
    algo="EXPLICIT",
):
    """Paddle's CPU pooling loop: each window is clipped to the real input; avg divides by the
    clipped count when exclusive, else by the window clipped to the padded input (padding
    counts, ceil_mode's cells past the padded border do not; see avg_pool2d_loops)."""
    if data_format == "NHWC":
        x = x.transpose(0, 3, 1, 2)
    n, c, h, w = x.shape
    kh, kw = ksize
    sh, sw = strides
    top, bottom, left, right = pads4(paddings)
    if global_pooling:
        kh, kw, sh, sw, top, bottom, left, right = h, w, 1, 1, 0, 0, 0, 0
    elif algo == "SAME":
        top, bottom = same_pads(h, kh, sh)
        left, right = same_pads(w, kw, sw)
    elif algo == "VALID":
        top = bottom = left = right = 0
    extra_h, extra_w = (sh - 1, sw - 1) if ceil_mode else (0, 0)
    oh = (h + top + bottom - kh + extra_h) // sh + 1
    ow = (w + left + right - kw + extra_w) // sw + 1
    out = np.zeros((n, c, oh, ow), dtype=x.dtype)
    for i in range(oh):
        h0 = i * sh - top
        h1, h0 = min(h0 + kh, h), max(h0, 0)
        for j in range(ow):
            w0 = j * sw - left
            w1, w0 = min(w0 + kw, w), max(w0, 0)
            win = x[:, :, h0:h1, w0:w1]
            if pooling_type == "max":
                out[:, :, i, j] = win.max(axis=(2, 3))
            else:
                if exclusive:
                    count = (h1 - h0) * (w1 - w0)
                else:
                    ph0, pw0 = i * sh - top, j * sw - left
                    count = (min(ph0 + kh, h + bottom) - ph0) * (min(pw0 + kw, w + right) - pw0)
                out[:, :, i, j] = win.sum(axis=(2, 3)) / max(count, 1)
    return out if data_format == "NCHW" else out.transpose(0, 2, 3, 1)


def avg_pool2d_loops(x, ksize, strides, paddings, ceil_mode, exclusive):
    """Average pooling, NCHW, one output element and one window cell at a time.

    A cell is real (inside the input), padding (inside the padded input), or beyond the
    padded border (only ceil_mode's last windows reach there). Real cells are summed. The
    divisor counts the real cells when `exclusive`; otherwise real and padding cells, but
    never the cells beyond the padded border (Paddle; PyTorch's count_include_pad=True).
    """
    n, c, h, w = x.shape
    kh, kw = ksize
    sh, sw = strides
    top, bottom, left, right = pads4(paddings)
    extra_h, extra_w = (sh - 1, sw - 1) if ceil_mode else (0, 0)
    oh = (h + top + bottom - kh + extra_h) // sh + 1
    ow = (w + left + right - kw + extra_w) // sw + 1
    out = np.zeros((n, c, oh, ow), dtype=x.dtype)
    for b in range(n):
        for ch in range(c):
            for i in range(oh):
                for j in range(ow):
                    total, count = 0.0, 0
                    for a in range(kh):
                        for e in range(kw):
                            r, q = i * sh - top + a, j * sw - left + e  # input coordinates
                            real = 0 <= r < h and 0 <= q < w
                            in_padded = -top <= r < h + bottom and -left <= q < w + right
                            if real:
                                total += x[b, ch, r, q]
                            if real or (in_padded and not exclusive):
                                count += 1
                    out[b, ch, i, j] = total / max(count, 1)
    return out


def _avg_loops_ref(i, a):
    return {
        "Out": avg_pool2d_loops(
            i["X"], a["ksize"], a["strides"], a.get("paddings", (0, 0)), a["ceil_mode"], a["exclusive"]
        )
    }


def _conv_ref(i, a):
    return {
        "Output": conv2d_ref(
            i["Input"],
            i["Filter"],
            a.get("strides", (1, 1)),
            a.get("paddings", (0, 0)),
            a.get("dilations", (1, 1)),
            a.get("groups", 1),
            a.get("data_format", "NCHW"),
            a.get("padding_algorithm", "EXPLICIT"),
        )
    }


def _pool_ref(i, a):
    return {
        "Out": pool2d_ref(
            i["X"],
            a.get("ksize", (1, 1)),
            a.get("strides", (1, 1)),
            a.get("paddings", (0, 0)),
            a.get("pooling_type", "max"),
            a.get("global_pooling", False),
            a.get("ceil_mode", False),
            a.get("exclusive", True),
            a.get("data_format", "NCHW"),
            a.get("padding_algorithm", "EXPLICIT"),
        )
    }


def distinct(*shape):
    """Distinct values 0.1 apart in random order: max pooling has no ties to break."""
    return rng.permutation(int(np.prod(shape))).reshape(shape) * 0.1 - 2.0


def conv(name, x_shape, w_shape, **attrs):
    return OpCase(
        "conv2d",
        {"Input": rng.normal(size=x_shape), "Filter": rng.normal(size=w_shape)},
        attrs,
        ref=_conv_ref,
        name=name,
    )


def pool(name, x, **attrs):
    return OpCase("pool2d", {"X": x}, attrs, ref=_pool_ref, name=name)


CASES = [
    conv("basic", (2, 2, 5, 5), (3, 2, 3, 3)),
    conv("stride2_pad1", (2, 2, 5, 5), (3, 2, 3, 3), strides=[2, 2], paddings=[1, 1]),
    conv("pad_pair_stride_pair", (2, 2, 5, 6), (2, 2, 3, 3), strides=[1, 2], paddings=[2, 1]),
    conv("pad_4tuple", (2, 2, 5, 5), (2, 2, 3, 3), paddings=[1, 0, 2, 1]),
    conv("dilation", (2, 2, 6, 5), (2, 2, 3, 2), dilations=[2, 1], paddings=[1, 1]),
    conv("kernel_1x1", (2, 3, 4, 4), (2, 3, 1, 1)),
    conv("non_overlapping", (2, 2, 6, 6), (2, 2, 2, 3), strides=[2, 3]),
    conv("groups2", (2, 4, 5, 5), (4, 2, 3, 3), groups=2, paddings=[1, 1]),
    conv("depthwise", (2, 3, 5, 5), (3, 1, 3, 3), groups=3, paddings=[1, 1], strides=[2, 2]),
    conv("depthwise_multiplier", (1, 2, 5, 5), (4, 1, 3, 3), groups=2),
    conv("nhwc", (2, 5, 5, 3), (4, 3, 3, 3), strides=[2, 2], paddings=[1, 1], data_format="NHWC"),
    conv("nhwc_groups_4tuple", (2, 5, 4, 4), (2, 2, 3, 3), groups=2, paddings=[0, 1, 1, 2], data_format="NHWC"),
    conv("nhwc_dilation", (1, 6, 6, 2), (3, 2, 2, 2), dilations=[2, 2], data_format="NHWC"),
    conv("same", (2, 2, 5, 6), (2, 2, 3, 3), strides=[2, 2], padding_algorithm="SAME"),
    conv("valid_ignores_pads", (2, 2, 5, 5), (2, 2, 3, 3), paddings=[2, 2], padding_algorithm="VALID"),
    pool("max_2x2", distinct(2, 2, 4, 4), ksize=[2, 2], strides=[2, 2]),
    pool("max_overlap_pad1", distinct(2, 2, 5, 5), ksize=[3, 3], strides=[2, 2], paddings=[1, 1]),
    pool("max_ceil", distinct(2, 2, 5, 6), ksize=[2, 2], strides=[2, 2], ceil_mode=True),
    pool("max_ceil_pad", distinct(1, 2, 6, 6), ksize=[3, 3], strides=[2, 2], paddings=[1, 1], ceil_mode=True),
    pool("max_pad_4tuple", distinct(2, 2, 5, 5), ksize=[3, 2], strides=[1, 2], paddings=[1, 0, 0, 1]),
    pool("max_global", distinct(2, 3, 3, 4), global_pooling=True),
    pool("max_nhwc", distinct(2, 5, 5, 3), ksize=[3, 3], strides=[2, 2], paddings=[1, 1], data_format="NHWC"),
    pool("max_same", distinct(2, 2, 5, 5), ksize=[2, 2], strides=[2, 2], padding_algorithm="SAME"),
    pool("avg_2x2", rng.normal(size=(2, 2, 4, 4)), pooling_type="avg", ksize=[2, 2], strides=[2, 2]),
    pool(
        "avg_exclusive_pad",
        rng.normal(size=(2, 2, 5, 5)),
        pooling_type="avg",
        ksize=[3, 3],
        strides=[2, 2],
        paddings=[1, 1],
    ),
    pool(
        "avg_inclusive_pad",
        rng.normal(size=(2, 2, 5, 5)),
        pooling_type="avg",
        ksize=[3, 3],
        strides=[2, 2],
        paddings=[1, 1],
        exclusive=False,
    ),
    pool(
        "avg_ceil_exclusive",
        rng.normal(size=(2, 2, 5, 6)),
        pooling_type="avg",
        ksize=[2, 2],
        strides=[2, 2],
        ceil_mode=True,
    ),
    pool(
        "avg_ceil_inclusive",
        rng.normal(size=(2, 2, 6, 6)),
        pooling_type="avg",
        ksize=[3, 3],
        strides=[2, 2],
        paddings=[1, 1],
        ceil_mode=True,
        exclusive=False,
    ),
    pool("avg_global", rng.normal(size=(2, 3, 3, 4)), pooling_type="avg", global_pooling=True),
    # exclusive=False with ceil_mode: the border windows divide by the part of the window
    # inside the padded input. On 8x8 (k=3, s=2) ceil mode adds a row and column of windows
    # that reach past the padded border; on 7x7 it adds none (the rows check the rule both ways).
    *(
        OpCase(
            "pool2d",
            {"X": rng.normal(size=(2, 2, n, n))},
            {
                "pooling_type": "avg",
                "ksize": [3, 3],
                "strides": [2, 2],
                "paddings": [p, p],
                "ceil_mode": True,
                "exclusive": exclusive,
            },
            ref=_avg_loops_ref,
            name=f"avg_ceil_{'exclusive' if exclusive else 'inclusive'}_{n}x{n}_pad{p}_loops",
        )
        for n in (7, 8)
        for p in (0, 1)
        for exclusive in (False, True)
    ),
    OpCase(
        "pool2d",
        {"X": rng.normal(size=(1, 2, 7, 6))},
        {
            "pooling_type": "avg",
            "ksize": [3, 3],
            "strides": [2, 2],
            "paddings": [1, 0, 0, 2],
            "ceil_mode": True,
            "exclusive": False,
        },
        ref=_avg_loops_ref,
        name="avg_ceil_inclusive_pad_4tuple_loops",
    ),
    pool(
        "avg_nhwc_pad_4tuple",
        rng.normal(size=(2, 4, 5, 2)),
        pooling_type="avg",
        ksize=[2, 3],
        strides=[1, 2],
        paddings=[0, 1, 1, 1],
        data_format="NHWC",
    ),
    # Test mode is deterministic: the numeric gradient check applies directly.
    OpCase(
        "dropout",
        {"X": rng.normal(size=(3, 4))},
        {"dropout_prob": 0.3, "is_test": True},
        ref=lambda i, a: {"Out": i["X"] * 0.7, "Mask": np.ones((3, 4), np.uint8)},
        name="test_downgrade",
    ),
    OpCase(
        "dropout",
        {"X": rng.normal(size=(3, 4))},
        {"dropout_prob": 0.3, "is_test": True, "dropout_implementation": "upscale_in_train"},
        ref=lambda i, a: {"Out": i["X"], "Mask": np.ones((3, 4), np.uint8)},
        name="test_upscale",
    ),
    # A fixed seed makes the training mask the same on every run, so the numeric gradient
    # is well defined; the values are checked in tests/test_conv_pool_dropout.py.
    OpCase(
        "dropout",
        {"X": rng.normal(size=(4, 5))},
        {"dropout_prob": 0.4, "seed": 11, "fix_seed": True, "dropout_implementation": "upscale_in_train"},
        name="train_fixed_seed_upscale",
    ),
    OpCase(
        "dropout",
        {"X": rng.normal(size=(4, 5))},
        {"dropout_prob": 0.4, "seed": 11, "fix_seed": True},
        name="train_fixed_seed_downgrade",
    ),
]
