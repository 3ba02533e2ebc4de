"""The drawing as plain records: which op and variable nodes appear, their roles, and the
edges between them. Graph building lives here; DOT syntax lives in dot.py.

A variable is drawn once per value it holds. The first value is node `var_<name>`; every
later write (an op that updates its own input in place, such as batch_norm's MeanOut = Mean
or sgd's ParamOut = Param) makes a new node `var_<name>#<k>` labelled `name (updated)`, so
the drawing is always acyclic and reads top to bottom in execution order.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
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
class OpNode:
    id: str
    index: int
    op: Operator
    kind: str
    highlighted: bool
    scope: tuple[str, ...]


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
    nodes: list[VarNode | OpNode]  # in drawing order
    edges: list[Edge]
    hidden_ops: int

    @property
    def ops(self) -> list[OpNode]:
        return [n for n in self.nodes if isinstance(n, OpNode)]

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
) -> GraphModel:
    """Walk the block's ops in order and lay out nodes and edges (see the module docstring)."""
    patterns = compile_patterns(highlight)

    def marked(text: str) -> bool:
        return any(p.search(text) for p in patterns)

    def op_visible(op: Operator) -> bool:
        kind = style.op_kind(op)
        return not ((kind == "backward" and not show_grad) or (kind == "optimize" and not show_optimizer))

    def var_visible(name: str) -> bool:
        return show_grad or "@GRAD" not in name

    fed = {n for op in block.ops if op.type == "feed" for n in op.output_arg_names}
    nodes: list[VarNode | OpNode] = []
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

    hidden = 0
    for index, op in enumerate(block.ops):
        if not op_visible(op):
            hidden += 1
            continue
        kind = style.op_kind(op)
        scope = split_scope(op.namescope)
        opnode = OpNode(f"op_{index}_{sanitize(op.type)}", index, op, kind, marked(op.type), scope)
        for slot, names in op.inputs.items():
            for j, name in enumerate(names):
                if not var_visible(name):
                    continue
                src = current.get(name) or new_value(name)
                src.touched_by(scope, kind)
                label = slot if len(names) == 1 else f"{slot}[{j}]"
                edges.append(Edge(src.id, opnode.id, label, kind, src.highlighted or opnode.highlighted))
        nodes.append(opnode)
        written: dict[str, VarNode] = {}  # one new value per name even if two slots name it
        for slot, names in op.outputs.items():
            for j, name in enumerate(names):
                if not var_visible(name):
                    continue
                dst = written.get(name) or new_value(name)
                written[name] = dst
                dst.touched_by(scope, kind)
                label = slot if len(names) == 1 else f"{slot}[{j}]"
                edges.append(Edge(opnode.id, dst.id, label, kind, dst.highlighted or opnode.highlighted))

    if not block.ops:  # nothing to walk: still show what the block declares
        for name in block.vars:
            if var_visible(name):
                new_value(name)
    return GraphModel(block.idx, nodes, edges, hidden)


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
