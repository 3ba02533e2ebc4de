"""Op families. Importing this package registers every op in the registry."""

from minigraph.ops import (  # noqa: F401
    activation,
    average,
    bucket,
    classification,
    collective,
    compare,
    conv,
    conv_transpose,
    dropout,
    fused,
    fused_bias_norm,
    image,
    init,
    lookup,
    loss,
    manip,
    math,
    matmul,
    norm,
    normalize,
    optim,
    optim_adaptive,
    pool,
    reduction,
    search,
    shape,
    sync_norm,
)
from minigraph.registry import OpDef, all_ops, get_op, register

__all__ = ["OpDef", "all_ops", "get_op", "register"]
