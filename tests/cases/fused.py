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
