"""Cases for minigraph/ops/norm.py (batch_norm): every mode, both layouts, ranks 2 to 5.

Forward rows check all five outputs against an independent numpy reference. Gradient rows
check X, Scale and Bias (float64 central differences) through Y only: the statistics
outputs are not differentiable (stop_gradient in every program the layers build).
"""

import numpy as np

from minigraph.testing import OpCase

rng = np.random.default_rng(7)

MODES = {
    "batch": {},
    "train_trainable_stats": {"trainable_statistics": True},
    "global": {"use_global_stats": True},
    "is_test": {"is_test": True},
    "is_test_trainable_stats": {"is_test": True, "trainable_statistics": True},
}

# NCHW shapes with C = 3 and a few values per channel (gradient checks perturb every element).
SHAPES = {2: (4, 3), 3: (2, 3, 2), 4: (2, 3, 2, 1), 5: (2, 3, 1, 2, 1)}


def bn_ref(i, a):
    """batch_norm in plain numpy: channels moved last, then per-column statistics."""
    x = i["X"]
    layout = a.get("data_layout", "NCHW")
    eps, mom = a.get("epsilon", 1e-5), a.get("momentum", 0.9)
    axis = 1 if layout == "NCHW" else x.ndim - 1
    cols = np.moveaxis(x, axis, -1)
    flat = cols.reshape(-1, cols.shape[-1])
    running = (a.get("is_test", False) and not a.get("trainable_statistics", False)) or a.get("use_global_stats", False)
    mean_in, var_in = i["Mean"], i["Variance"]
    if running:
        mu, var = mean_in, var_in
        mean_out, var_out = mean_in, var_in
    else:
        mu = flat.mean(axis=0)
        var = ((flat - mu) ** 2).mean(axis=0)
        if a.get("is_test", False):
            mean_out, var_out = mean_in, var_in
        else:
            mean_out = mom * mean_in + (1 - mom) * mu
            var_out = mom * var_in + (1 - mom) * var
    inv_std = 1 / np.sqrt(var + eps)
    y = (cols - mu) * inv_std * i["Scale"] + i["Bias"]
    return {
        "Y": np.moveaxis(y, -1, axis),
        "MeanOut": mean_out,
        "VarianceOut": var_out,
        "SavedMean": mu,
        "SavedVariance": inv_std,
    }


def to_layout(x, layout):
    return x if layout == "NCHW" or x.ndim == 2 else np.moveaxis(x, 1, -1)


def bn_inputs(shape, layout="NCHW", seed=0):
    r = np.random.default_rng(seed)
    c = shape[1]
    return {
        "X": to_layout(r.normal(size=shape) * 1.5 + 0.3, layout),
        "Scale": r.uniform(0.5, 1.5, size=c),
        "Bias": r.normal(size=c),
        "Mean": r.normal(size=c) * 0.3,
        "Variance": r.uniform(0.5, 2.0, size=c),
    }


def bn_case_pair(op, inputs, attrs, ref, tag):
    """A forward row and a gradient row (X, Scale, Bias through Y) of a batch_norm-like op."""
    common = dict(ref=ref, persistable=("Mean", "Variance"))
    return [
        OpCase(op, inputs, attrs, grad=(), name=f"fwd-{tag}", **common),
        OpCase(
            op,
            inputs,
            attrs,
            grad=("X", "Scale", "Bias"),
            outputs=("Y",),
            name=f"grad-{tag}",
            grad_rtol=1e-5,
            grad_atol=1e-7,
            **common,
        ),
    ]


CASES = []
for mode, mode_attrs in MODES.items():
    for layout in ("NCHW", "NHWC"):
        for rank, shape in SHAPES.items():
            if rank == 2 and layout == "NHWC" and mode != "batch":
                continue  # a rank-2 input is [N, C] under either layout: one NHWC row is enough
            attrs = {**mode_attrs, "data_layout": layout}
            inputs = bn_inputs(shape, layout, seed=rank)
            tag = f"{mode}-{layout}-r{rank}"
            CASES += bn_case_pair("batch_norm", inputs, attrs, bn_ref, tag)

CASES += [
    OpCase(
        "batch_norm",
        bn_inputs((3, 2, 2, 2), seed=11),
        {"epsilon": 1e-3, "momentum": 0.75},
        ref=bn_ref,
        grad=(),
        name="fwd-eps-momentum",
        persistable=("Mean", "Variance"),
    ),
]
