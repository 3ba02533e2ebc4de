"""Cases for minigraph/ops/fused.py: each fused op against its unfused pair written in numpy
(batch_norm's reference, then the activation), in every batch_norm mode and both layouts."""

from dataclasses import replace

import numpy as np

from minigraph.ops.norm import BN_ATTRS, uses_batch_stats
from minigraph.testing import OpCase
from tests.cases.norm import MODES, bn_case_pair, bn_inputs, bn_ref


def bn_relu_ref(i, a):
    out = bn_ref(i, a)
    return {**out, "Y": np.maximum(out["Y"], 0.0)}


CASES = []
for mode, mode_attrs in MODES.items():
    for layout, shape in (("NCHW", (3, 4, 2, 2)), ("NHWC", (3, 4, 2, 2)), ("NCHW", (6, 4))):
        attrs = {**mode_attrs, "data_layout": layout, "act_type": "relu"}
        inputs = bn_inputs(shape, layout, seed=len(shape))
        tag = f"{mode}-{layout}-r{len(shape)}"
        CASES += bn_case_pair("fused_batch_norm_act", inputs, attrs, bn_relu_ref, tag)


def _bias_bn_relu_ref(i, a):
    return bn_relu_ref({**i, "X": i["X"] + i["XBias"]}, a)


# fused_bias_batch_norm_act: the fc bias added to [N, C] rows first; every mode (the
# passes fuse only batch statistics, but the op computes any). With batch statistics the
# bias cancels and its gradient is 0 up to rounding, which no relative check can compare:
# there it is checked through the pass, equal to the unfused add's to the last bit.
for mode, mode_attrs in MODES.items():
    inputs = bn_inputs((6, 4), "NCHW", seed=2)
    inputs = {"X": inputs["X"], "XBias": np.random.default_rng(5).normal(size=4), **inputs}
    attrs = {**mode_attrs, "data_layout": "NCHW", "act_type": "relu"}
    pair = bn_case_pair("fused_bias_batch_norm_act", inputs, attrs, _bias_bn_relu_ref, f"{mode}-r2")
    wrt = ("X", "Scale", "Bias") if uses_batch_stats({**BN_ATTRS, **attrs}) else ("X", "XBias", "Scale", "Bias")
    CASES += [pair[0], replace(pair[1], grad=wrt)]


def _add_relu_ref(i, a):
    y = i["Y"] if a.get("axis", -1) == -1 else i["Y"].reshape(i["Y"].shape + (1,) * (i["X"].ndim - a["axis"] - 1))
    return {"Out": np.maximum(i["X"] + y, 0.0)}


_rng = np.random.default_rng(13)
_x234 = _rng.normal(size=(2, 3, 4))
for tag, inputs, add_attrs in (
    ("same_shape", {"X": _x234, "Y": _rng.normal(size=(2, 3, 4))}, {}),
    ("broadcast", {"X": _x234, "Y": _rng.normal(size=(4,))}, {}),
    ("axis1", {"X": _x234, "Y": _rng.normal(size=(3,))}, {"axis": 1}),
):
    CASES.append(
        OpCase(
            "fused_elemwise_add_activation",
            inputs,
            {**add_attrs, "act_type": "relu"},
            ref=_add_relu_ref,
            name=tag,
        )
    )


def _conv_add_relu_ref(i, a):
    x, w = i["Input"], i["Filter"]
    if a["data_format"] == "NHWC":
        x = x.transpose(0, 3, 1, 2)
    n, _, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((n, w.shape[0], h, wd))
    for di in range(3):
        for dj in range(3):
            out += np.einsum("nchw,oc->nohw", xp[:, :, di : di + h, dj : dj + wd], w[:, :, di, dj])
    out = np.maximum(out + i["Bias"].reshape(1, -1, 1, 1), 0.0)
    if a["pool_2x2"]:
        out = out.reshape(n, -1, h // 2, 2, wd // 2, 2).max(axis=(3, 5))
    return {"Output": out.transpose(0, 2, 3, 1) if a["data_format"] == "NHWC" else out}


for layout in ("NCHW", "NHWC"):
    for pool in (False, True):
        _x = _rng.normal(size=(2, 3, 4, 4) if layout == "NCHW" else (2, 4, 4, 3))
        CASES.append(
            OpCase(
                "fused_conv2d_add_act",
                {"Input": _x, "Filter": _rng.normal(size=(5, 3, 3, 3)), "Bias": _rng.normal(size=(5,))},
                {"paddings": [1, 1], "data_format": layout, "axis": 1 if layout == "NCHW" else -1, "pool_2x2": pool},
                ref=_conv_add_relu_ref,
                grad=(),
                name=f"{layout}-{'pool' if pool else 'nopool'}",
            )
        )
