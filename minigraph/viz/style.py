"""What the drawing looks like: colours by role, and the few attributes worth a line in an
op's box. Kept apart from graph building so the palette can change without touching logic."""

from __future__ import annotations

from typing import Any

from minigraph.ir.operator import Operator, OpRole
from minigraph.ir.variable import Parameter, Variable
from minigraph.ops.norm import BN_ATTRS, updates_running_stats

FONT = "Helvetica,Arial,sans-serif"


# Variable roles, in legend order. "state" is persistable but not trained by gradients:
# batch_norm's moving statistics, optimizer accumulators, learning rates.
def _look(fill: str, line: str, font: str) -> dict[str, str]:
    return {"fillcolor": fill, "color": line, "fontcolor": font}


# kind -> (variable or op, legend text, colours), in legend order.
_KINDS = {
    "data": ("var", "feed data", _look("#c8e6c9", "#2e7d32", "#1b3d1f")),
    "param": ("var", "parameter", _look("#148b97", "#0b5960", "#ffffff")),
    "state": ("var", "persistable state", _look("#c5cae9", "#3949ab", "#1a237e")),
    "grad": ("var", "gradient", _look("#f8d7da", "#c2185b", "#5a0c2a")),
    "temp": ("var", "temporary", _look("#f2f2f2", "#9e9e9e", "#333333")),
    "forward": ("op", "forward op", _look("#303a3a", "#303a3a", "#ffffff")),
    "loss": ("op", "loss op", _look("#b71c1c", "#7f0000", "#ffffff")),
    "backward": ("op", "backward op", _look("#6a3d9a", "#4a2370", "#ffffff")),
    "optimize": ("op", "optimizer op", _look("#1f5fa8", "#0d3c73", "#ffffff")),
    "collective": ("op", "collective (communication) op", _look("#795548", "#4e342e", "#ffffff")),
}
VAR_KINDS = tuple(kind for kind, (what, _, _) in _KINDS.items() if what == "var")
OP_KINDS = tuple(kind for kind, (what, _, _) in _KINDS.items() if what == "op")
VAR_LEGEND = {kind: _KINDS[kind][1] for kind in VAR_KINDS}
VAR_STYLE: dict[str, dict[str, str]] = {kind: _KINDS[kind][2] for kind in VAR_KINDS}
OP_LEGEND = {kind: _KINDS[kind][1] for kind in OP_KINDS}
OP_STYLE: dict[str, dict[str, str]] = {kind: _KINDS[kind][2] for kind in OP_KINDS}
EDGE_COLOR = {
    "forward": "#555555",
    "loss": "#555555",
    "backward": "#9c7bb8",
    "optimize": "#5b8fd1",
    "collective": "#8d6e63",
    "group": "#6a3d9a",
}

# A box standing for the backward and optimizer ops of one forward op (collapse_backward).
GROUP_STYLE = {"fillcolor": "#ede7f6", "color": "#6a3d9a", "fontcolor": "#4a2370"}
GROUP_LEGEND = "backward + optimizer ops"
# Rows inside an op's box for its persistable inputs (inline_params): a pale cell for the
# name and shape beside a slot cell in the variable's own colour.
ROW_FILL = {"param": "#e0f2f1", "state": "#e8eaf6"}

HIGHLIGHT_STYLE = {"fillcolor": "#ffa500", "color": "#e65100", "fontcolor": "#000000", "penwidth": "2.5"}
HIGHLIGHT_EDGE = "#e65100"


def op_look(op: Operator, kind: str) -> str:
    """The colour an op is drawn in: its kind's, except that collective ops (Paddle's `c_*`:
    communication between processes) have their own whatever their role."""
    return "collective" if op.type.startswith("c_") else kind


def op_kind(op: Operator) -> str:
    """forward / loss / backward / optimize from Paddle's op_role bits (Optimize wins)."""
    if op.role & OpRole.OPTIMIZE:
        return "optimize"
    if op.role & OpRole.BACKWARD:
        return "backward"
    if op.role & OpRole.LOSS:
        return "loss"
    return "forward"


def var_kind(v: Variable | None, name: str, fed: bool = False) -> str:
    """The role a reader cares about; `fed` marks an output of a `feed` op."""
    if v is None:
        return "grad" if "@GRAD" in name else "temp"
    if v.is_data or fed:
        return "data"
    if isinstance(v, Parameter):
        return "param" if v.trainable else "state"
    if v.persistable:
        return "state"
    if "@GRAD" in name:
        return "grad"
    return "temp"


def writes_in_place(op: Operator) -> bool:
    """Whether an op that names a variable as both input and output really changes it.
    batch_norm always lists MeanOut = Mean, but in running-statistics mode it writes them
    back unchanged (minigraph never updates statistics there, even with trainable_statistics
    in a test program)."""
    if op.type == "batch_norm":
        return updates_running_stats({**BN_ATTRS, **op.attrs})
    return True


def batch_norm_mode(attrs: dict[str, Any]) -> str:
    """Which statistics a batch_norm normalises with (paddle_behaviour.md 1.4)."""
    is_test = bool(attrs.get("is_test", False))
    if bool(attrs.get("use_global_stats", False)):
        return "global stats"
    if is_test and not bool(attrs.get("trainable_statistics", False)):
        return "test (running stats)"
    return "train (batch stats)"


# Attributes shown inside an op's box when present and not at their usual value; the full
# attribute list is in the node's tooltip.
_KEY_ATTRS: dict[str, tuple[str, ...]] = {
    "conv2d": ("strides", "paddings", "dilations", "groups"),
    "pool2d": ("pooling_type", "ksize", "strides", "paddings", "global_pooling"),
    "dropout": ("dropout_prob", "is_test"),
    "scale": ("scale", "bias"),
    "mul": ("x_num_col_dims",),
    "matmul": ("transpose_X", "transpose_Y", "alpha"),
    "fill_constant": ("value",),
    "cast": ("out_dtype",),
    "softmax": ("axis",),
    "log_softmax": ("axis",),
    "leaky_relu": ("alpha",),
    "concat": ("axis",),
    "split": ("axis", "num", "sections"),
    "reshape2": ("shape",),
    "reshape": ("shape",),
    "transpose2": ("axis",),
    "transpose": ("axis",),
    "flatten": ("axis",),
    "flatten2": ("axis",),
    "reduce_sum": ("dim", "keep_dim", "reduce_all"),
    "reduce_mean": ("dim", "keep_dim", "reduce_all"),
    "reduce_max": ("dim", "keep_dim", "reduce_all"),
    "momentum": ("mu", "use_nesterov"),
    "adam": ("beta1", "beta2", "epsilon"),
    "accuracy": ("k",),
    "top_k": ("k",),
    "c_allreduce_start": ("reduce",),
    "c_broadcast": ("root",),
    "c_reduce_sum": ("root_id",),
    "c_allgather": ("nranks",),
    "c_reducescatter": ("nranks",),
}
# Values not worth a line (the usual defaults), compared as displayed text.
_DULL = {
    "groups": "1",
    "dilations": "[1, 1]",
    "strides": "[1, 1]",
    "paddings": "[0, 0]",
    "x_num_col_dims": "1",
    "transpose_X": "False",
    "transpose_Y": "False",
    "global_pooling": "False",
    "keep_dim": "False",
    "reduce_all": "False",
    "use_nesterov": "False",
    "bias": "0",
    "is_test": "False",
}
_DULL_FOR = {("matmul", "alpha"): "1"}


def _fmt(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def key_attr_lines(op: Operator) -> list[str]:
    """Short `name=value` lines for an op's box (batch_norm gets its mode)."""
    base = op.type[: -len("_grad")] if op.type.endswith("_grad") else op.type
    if base in ("batch_norm", "sync_batch_norm"):
        return [batch_norm_mode(op.attrs)]
    if base.startswith("elementwise_"):
        axis = op.attrs.get("axis", -1)
        return [] if axis == -1 else [f"axis={axis}"]
    lines = []
    for name in _KEY_ATTRS.get(base, ()):
        if name not in op.attrs:
            continue
        text = _fmt(op.attrs[name])
        if text == _DULL_FOR.get((base, name), _DULL.get(name)):
            continue
        lines.append(f"{name}={text}")
    return lines
