"""The drawing as plain records: which op and variable nodes appear, their roles, and the
edges between them. Graph building lives here; DOT syntax lives in dot.py.

A variable is drawn once per value it holds. The first value is node `var_<name>`; every
later write (an op that updates its own input in place, such as batch_norm's MeanOut = Mean
or sgd's ParamOut = Param) makes a new node `var_<name>#<k>` labelled `name (updated)`, so
the drawing is always acyclic and reads top to bottom in execution order.

Three options make big programs readable:
- `inline_params`: a persistable input (parameter, moving statistic, optimizer state) is a
  row inside its op's box instead of a node of its own; an op that updates it in place marks
  the row "updated" instead of drawing a second node.
- `hide_unused`: a temporary output that no drawn op reads disappears, unless it is in the
  op's first output slot (batch_norm's SavedMean goes, its Y stays).
- `collapse_backward`: backward and optimizer ops are not drawn; each forward op gets one
  GroupNode standing for the training ops that belong to it (see `anchor_ops`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from minigraph.ir.operator import Operator
from minigraph.ir.variable import Variable
from minigraph.viz import style
from minigraph.viz.errors import VizError

# Characters kept as they are in node ids; everything else is written %XX (UTF-8 bytes),
# which keeps ids unique and free of DOT's port separator ':'.
_ID_SAFE = re.compile(r"[A-Za-z0-9_.@/+\-]")


def sanitize(text: str) -> str:
    return "".join(c if _ID_SAFE.fullmatch(c) else "".join(f"%{b:02X}" for b in c.encode()) for c in text)


@dataclass
class VarNode:
    id: str
    name: str
    version: int
    var: Variable | None
    kind: str
    highlighted: bool
    scopes: list[tuple[str, ...]] = field(default_factory=list)  # namescopes of the ops touching it
    forward_scopes: list[tuple[str, ...]] = field(default_factory=list)  # ... of the forward ops only

    @property
    def scope(self) -> tuple[str, ...]:
        """Where to cluster it: the layer that uses it (forward ops win over the backward and
        optimizer ops, which usually sit outside any name_scope)."""
        return common_scope(self.forward_scopes or self.scopes)

    def touched_by(self, scope: tuple[str, ...], op_kind: str) -> None:
        self.scopes.append(scope)
        if op_kind in ("forward", "loss"):
            self.forward_scopes.append(scope)


@dataclass
class ParamRow:
    """A persistable input drawn inside its op's box (`inline_params`)."""

    slot: str
    name: str
    var: Variable | None
    kind: str  # "param" or "state"
    highlighted: bool
    updated: bool = False  # the op writes it back in place


@dataclass
class OpNode:
    id: str
    index: int
    op: Operator
    kind: str
    highlighted: bool
    scope: tuple[str, ...]
    params: list[ParamRow] = field(default_factory=list)


@dataclass
class GroupNode:
    """The backward and optimizer ops of one forward op, drawn as one box (`collapse_backward`)."""

    id: str
    anchor: OpNode | None  # the forward op; None for training ops tied to no forward op
    members: list[int]  # op indices in the block, in program order
    kinds: dict[str, int]  # "backward"/"optimize" -> how many
    types: list[str]  # member op types, in program order
    highlighted: bool

    @property
    def scope(self) -> tuple[str, ...]:
        return self.anchor.scope if self.anchor is not None else ()


@dataclass
class Edge:
    tail: str
    head: str
    label: str
    kind: str  # the op's kind, which colours the edge
    highlighted: bool


@dataclass
class GraphModel:
    block_idx: int
    nodes: list[VarNode | OpNode | GroupNode]  # in drawing order
    edges: list[Edge]
    hidden_ops: int

    @property
    def ops(self) -> list[OpNode]:
        return [n for n in self.nodes if isinstance(n, OpNode)]

    @property
    def groups(self) -> list[GroupNode]:
        return [n for n in self.nodes if isinstance(n, GroupNode)]

    @property
    def vars(self) -> list[VarNode]:
        return [n for n in self.nodes if isinstance(n, VarNode)]


def compile_patterns(highlight: Any) -> list[re.Pattern[str]]:
    if highlight is None:
        return []
    items: Iterable[Any] = [highlight] if isinstance(highlight, (str, re.Pattern)) else highlight
    patterns = []
    for item in items:
        try:
            patterns.append(item if isinstance(item, re.Pattern) else re.compile(str(item)))
        except re.error as e:
            raise VizError(f"highlight: bad regular expression {item!r}: {e}") from None
    return patterns


def split_scope(namescope: str) -> tuple[str, ...]:
    return tuple(part for part in namescope.split("/") if part)


def build_model(
    block: Any,
    show_grad: bool = True,
    show_optimizer: bool = True,
    highlight: Any = None,
    inline_params: bool = False,
    hide_unused: bool = False,
    collapse_backward: bool = False,
    only_ops: Sequence[int] | None = None,
) -> GraphModel:
    """Walk the block's ops in order and lay out nodes and edges (see the module docstring).
    `only_ops` draws just those op indices (a group's ops, for the HTML viewer's insets)."""
    patterns = compile_patterns(highlight)

    def marked(text: str) -> bool:
        return any(p.search(text) for p in patterns)

    def op_visible(op: Operator) -> bool:
        kind = style.op_kind(op)
        if collapse_backward and kind in ("backward", "optimize"):
            return False
        return not ((kind == "backward" and not show_grad) or (kind == "optimize" and not show_optimizer))

    def var_visible(name: str) -> bool:
        return show_grad or "@GRAD" not in name

    fed = {n for op in block.ops if op.type == "feed" for n in op.output_arg_names}
    chosen = set(range(len(block.ops)) if only_ops is None else only_ops)
    drawn = [i for i, op in enumerate(block.ops) if i in chosen and op_visible(op)]
    read_by_drawn = {n for i in drawn for n in block.ops[i].input_arg_names}
    anchors = anchor_ops(block) if collapse_backward else {}
    members: dict[int | None, list[int]] = {}
    for i, a in anchors.items():
        if i in chosen and (show_grad or style.op_kind(block.ops[i]) != "backward"):
            if show_optimizer or style.op_kind(block.ops[i]) != "optimize":
                members.setdefault(a, []).append(i)

    nodes: list[VarNode | OpNode | GroupNode] = []
    edges: list[Edge] = []
    current: dict[str, VarNode] = {}  # name -> node holding its latest value

    def new_value(name: str) -> VarNode:
        prev = current.get(name)
        version = prev.version + 1 if prev is not None else 0
        v = block._find_var_recursive(name)
        node_id = "var_" + sanitize(name) + (f"#{version}" if version else "")
        node = VarNode(node_id, name, version, v, style.var_kind(v, name, name in fed), marked(name))
        nodes.append(node)
        current[name] = node
        return node

    def as_row(name: str) -> bool:
        v = block._find_var_recursive(name)
        return inline_params and v is not None and v.persistable and not v.is_data and name not in fed

    def add_group(anchor: OpNode | None, ops: list[int]) -> None:
        gid = "group_" + (str(anchor.index) if anchor is not None else "other")
        kinds: dict[str, int] = {}
        for i in ops:
            kinds[style.op_kind(block.ops[i])] = kinds.get(style.op_kind(block.ops[i]), 0) + 1
        types = [block.ops[i].type for i in ops]
        group = GroupNode(gid, anchor, ops, kinds, types, any(marked(t) for t in types))
        nodes.append(group)
        if anchor is not None:
            edges.append(Edge(anchor.id, gid, "", "group", group.highlighted))

    hidden = len(block.ops) - len(drawn) - sum(len(m) for m in members.values())
    if only_ops is not None:
        hidden = 0
    for index in drawn:
        op = block.ops[index]
        kind = style.op_kind(op)
        scope = split_scope(op.namescope)
        opnode = OpNode(f"op_{index}_{sanitize(op.type)}", index, op, kind, marked(op.type), scope)
        rows: dict[str, ParamRow] = {}
        for slot, names in op.inputs.items():
            for j, name in enumerate(names):
                if not var_visible(name):
                    continue
                label = slot if len(names) == 1 else f"{slot}[{j}]"
                if as_row(name):
                    v = block._find_var_recursive(name)
                    row = ParamRow(label, name, v, style.var_kind(v, name), marked(name))
                    opnode.params.append(row)
                    rows.setdefault(name, row)
                    continue
                src = current.get(name) or new_value(name)
                src.touched_by(scope, kind)
                edges.append(Edge(src.id, opnode.id, label, kind, src.highlighted or opnode.highlighted))
        opnode.highlighted = opnode.highlighted or any(r.highlighted for r in opnode.params)
        nodes.append(opnode)
        written: dict[str, VarNode] = {}  # one new value per name even if two slots name it
        first_slot = next(iter(op.outputs), None)
        for slot, names in op.outputs.items():
            for j, name in enumerate(names):
                if not var_visible(name):
                    continue
                if name in rows:  # written back in place into a row of this box
                    rows[name].updated = rows[name].updated or style.writes_in_place(op)
                    continue
                v = block._find_var_recursive(name)
                unused = name not in read_by_drawn and not (v is not None and v.persistable)
                if hide_unused and unused and slot != first_slot:
                    continue
                dst = written.get(name) or new_value(name)
                written[name] = dst
                dst.touched_by(scope, kind)
                label = slot if len(names) == 1 else f"{slot}[{j}]"
                edges.append(Edge(opnode.id, dst.id, label, kind, dst.highlighted or opnode.highlighted))
        if index in members:
            add_group(opnode, members[index])
    if None in members:
        add_group(None, members[None])

    if not block.ops:  # nothing to walk: still show what the block declares
        for name in block.vars:
            if var_visible(name):
                new_value(name)
    return GraphModel(block.idx, nodes, edges, hidden)


def anchor_ops(block: Any) -> dict[int, int | None]:
    """For each backward or optimizer op (by index), the forward op it belongs to, or None.

    A grad op `T_grad` belongs to the forward `T` op whose variables it names in the same
    slots (conv2d_grad(Input=image, Filter=w) to conv2d(Input=image, Filter=w)). Any other op
    (the loss gradient's fill_constant, a gradient `sum`, regularization, clipping, optimizer
    updates, ModelAverage's accumulation) belongs to the forward op that computes the value it
    handles (`x` for `x@GRAD`) or, for a parameter, the first forward op that reads it.
    """
    forward = [i for i, op in enumerate(block.ops) if style.op_kind(op) in ("forward", "loss")]
    writer: dict[str, int] = {}
    reader: dict[str, int] = {}
    for i in forward:
        for n in block.ops[i].output_arg_names:
            writer.setdefault(n, i)
        for n in block.ops[i].input_arg_names:
            reader.setdefault(n, i)
    by_type: dict[str, list[int]] = {}
    for i in forward:
        by_type.setdefault(block.ops[i].type, []).append(i)

    def matches(grad_op: Operator, fwd: Operator) -> bool:
        shared = 0
        for slot, names in grad_op.inputs.items():
            theirs = fwd.inputs.get(slot, fwd.outputs.get(slot))
            if theirs is None:
                continue
            if list(theirs) != list(names):
                return False
            shared += 1
        return shared > 0

    result: dict[int, int | None] = {}
    forward_set = set(forward)
    for i, op in enumerate(block.ops):
        if i in forward_set:
            continue
        anchor = None
        if op.type.endswith("_grad"):
            anchor = next((f for f in by_type.get(op.type[: -len("_grad")], []) if matches(op, block.ops[f])), None)
        if anchor is None:
            for name in op.output_arg_names + op.input_arg_names:
                base = name.split("@GRAD")[0]
                anchor = writer.get(base, reader.get(base))
                if anchor is not None:
                    break
        result[i] = anchor
    return result


def common_scope(scopes: list[tuple[str, ...]]) -> tuple[str, ...]:
    """The deepest namescope shared by every op touching a variable."""
    if not scopes:
        return ()
    first = scopes[0]
    depth = len(first)
    for s in scopes[1:]:
        depth = min(depth, len(s))
        for i in range(depth):
            if s[i] != first[i]:
                depth = i
                break
    return first[:depth]
