"""Gradient clipping, applied by an optimizer before regularization.

opt = minigraph.optimizer.SGD(0.1, grad_clip=minigraph.clip.GradientClipByGlobalNorm(1.0))
"""

from __future__ import annotations

from typing import Any

from minigraph.errors import InvalidArgumentError
from minigraph.ir.builder import builder_for
from minigraph.ir.operator import OpRole
from minigraph.ir.variable import Variable

__all__ = [
    "ClipGradBase",
    "ClipGradByGlobalNorm",
    "ClipGradByNorm",
    "ClipGradByValue",
    "GradientClipBase",
    "GradientClipByGlobalNorm",
    "GradientClipByNorm",
    "GradientClipByValue",
]

ParamsGrads = list[tuple[Any, Variable]]


class ClipGradBase:
    """Base class: `append_ops(params_grads)` returns the pairs with clipped gradients."""

    def append_ops(self, params_grads: ParamsGrads) -> ParamsGrads:
        raise NotImplementedError


class GradientClipByGlobalNorm(ClipGradBase):
    """Scale every gradient by clip_norm / max(global_norm, clip_norm), where global_norm is
    the L2 norm of all the clipped gradients taken together. Parameters with
    `need_clip=False` are left out of both the norm and the scaling.

    Ops (all with the Optimize role): one `global_norm_scale(X=[grads]) -> global_norm_scale_k`
    and, per gradient, `elementwise_mul(grad, scale) -> <grad>@CLIP_k`.
    """

    def __init__(self, clip_norm: float, group_name: str = "default_group") -> None:
        if isinstance(clip_norm, bool) or not isinstance(clip_norm, (int, float)) or not clip_norm > 0:
            raise InvalidArgumentError(
                f"GradientClipByGlobalNorm: clip_norm must be a positive number, got {clip_norm!r}"
            )
        self.clip_norm = float(clip_norm)
        self.group_name = group_name

    def append_ops(self, params_grads: ParamsGrads) -> ParamsGrads:
        chosen = [g for p, g in params_grads if g is not None and getattr(p, "need_clip", True)]
        if not chosen:
            return list(params_grads)
        builder = builder_for(chosen[0])
        names = builder.names
        scale = builder.create_var(names.generate("global_norm_scale"), (), chosen[0].dtype, stop_gradient=True)
        builder.append_op(
            "global_norm_scale", {"X": chosen}, {"Out": scale}, {"clip_norm": self.clip_norm}, role=OpRole.OPTIMIZE
        )
        scales = {scale.dtype: scale}
        out: ParamsGrads = []
        for p, g in params_grads:
            if g is None or not getattr(p, "need_clip", True):
                out.append((p, g))
                continue
            if g.dtype not in scales:  # mixed-precision parameters: one cast per dtype
                cast = builder.create_var(names.generate(f"{scale.name}.{g.dtype}"), (), g.dtype, stop_gradient=True)
                builder.append_op(
                    "cast",
                    {"X": scale},
                    {"Out": cast},
                    {"in_dtype": scale.dtype, "out_dtype": g.dtype},
                    role=OpRole.OPTIMIZE,
                )
                scales[g.dtype] = cast
            clipped = builder.create_var(names.generate(f"{g.name}@CLIP"), g.shape, g.dtype, stop_gradient=True)
            builder.append_op(
                "elementwise_mul",
                {"X": g, "Y": scales[g.dtype]},
                {"Out": clipped},
                {"axis": -1},
                role=OpRole.OPTIMIZE,
            )
            out.append((p, clipped))
        return out

    def __repr__(self) -> str:
        return f"GradientClipByGlobalNorm(clip_norm={self.clip_norm})"


class _PerGradientClip(ClipGradBase):
    """A clip applied to each gradient on its own: one `op` per gradient writing
    `<op>_k.tmp_0` (Paddle's names); parameters with need_clip=False are left alone."""

    op = ""

    def attrs(self) -> dict[str, Any]:
        raise NotImplementedError

    def append_ops(self, params_grads: ParamsGrads) -> ParamsGrads:
        out: ParamsGrads = []
        for p, g in params_grads:
            if g is None or not getattr(p, "need_clip", True):
                out.append((p, g))
                continue
            builder = builder_for(g)
            name = builder.names.generate(self.op) + ".tmp_0"
            clipped = builder.create_var(name, g.shape, g.dtype, stop_gradient=True)
            builder.append_op(self.op, {"X": g}, {"Out": clipped}, self.attrs(), role=OpRole.OPTIMIZE)
            out.append((p, clipped))
        return out


class GradientClipByValue(_PerGradientClip):
    """Clip every gradient element to [min, max] (`min` defaults to -max): one `clip` op
    per gradient."""

    op = "clip"

    def __init__(self, max: float, min: float | None = None) -> None:
        low = -float(max) if min is None else float(min)
        if not low <= float(max):
            raise InvalidArgumentError(f"GradientClipByValue: min {low} is larger than max {max}")
        self.max, self.min = float(max), low

    def attrs(self) -> dict[str, Any]:
        return {"min": self.min, "max": self.max}

    def __repr__(self) -> str:
        return f"GradientClipByValue(min={self.min}, max={self.max})"


class GradientClipByNorm(_PerGradientClip):
    """Scale each gradient whose L2 norm exceeds clip_norm down to norm clip_norm: one
    `clip_by_norm` op per gradient."""

    op = "clip_by_norm"

    def __init__(self, clip_norm: float) -> None:
        if isinstance(clip_norm, bool) or not isinstance(clip_norm, (int, float)) or not clip_norm > 0:
            raise InvalidArgumentError(f"GradientClipByNorm: clip_norm must be a positive number, got {clip_norm!r}")
        self.clip_norm = float(clip_norm)

    def attrs(self) -> dict[str, Any]:
        return {"max_norm": self.clip_norm}

    def __repr__(self) -> str:
        return f"GradientClipByNorm(clip_norm={self.clip_norm})"


# Paddle 2.x names
ClipGradByGlobalNorm = GradientClipByGlobalNorm
GradientClipBase = ClipGradBase
ClipGradByValue = GradientClipByValue
ClipGradByNorm = GradientClipByNorm
