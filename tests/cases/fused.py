"""Cases for minigraph/ops/fused.py: each fused op against its unfused pair written in numpy
(batch_norm's reference, then the activation), in every batch_norm mode and both layouts."""

import numpy as np

from minigraph.testing import OpCase
from tests.cases.norm import MODES, bn_inputs, bn_ref


def bn_relu_ref(i, a):
    out = bn_ref(i, a)
    return {**out, "Y": np.maximum(out["Y"], 0.0)}


CASES = []
for mode, mode_attrs in MODES.items():
    for layout, shape in (("NCHW", (3, 4, 2, 2)), ("NHWC", (3, 4, 2, 2)), ("NCHW", (6, 4))):
        attrs = {**mode_attrs, "data_layout": layout, "act_type": "relu"}
        inputs = bn_inputs(shape, layout, seed=len(shape))
        tag = f"{mode}-{layout}-r{len(shape)}"
        CASES.append(
            OpCase(
                "fused_batch_norm_act",
                inputs,
                attrs,
                ref=bn_relu_ref,
                grad=(),
                name=f"fwd-{tag}",
                persistable=("Mean", "Variance"),
            )
        )
        CASES.append(
            OpCase(
                "fused_batch_norm_act",
                inputs,
                attrs,
                ref=bn_relu_ref,
                grad=("X", "Scale", "Bias"),
                outputs=("Y",),
                name=f"grad-{tag}",
                persistable=("Mean", "Variance"),
                grad_rtol=1e-5,
                grad_atol=1e-7,
            )
        )


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
