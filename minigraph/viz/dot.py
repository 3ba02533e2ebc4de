"""to_dot: a Program (one block of it) as a graphviz.Digraph with deterministic DOT text."""

from __future__ import annotations

import html
import warnings
from typing import TYPE_CHECKING, Any

from minigraph.ir.program import Program
from minigraph.ir.text import op_line, var_line
from minigraph.types import shape_text
from minigraph.viz import style
from minigraph.viz.errors import MissingDependencyError, VizError
from minigraph.viz.graph import GraphModel, GroupNode, OpNode, VarNode, build_model, sanitize

if TYPE_CHECKING:
    import graphviz


def _graphviz() -> Any:
    """The `graphviz` Python package, imported only when a graph is drawn: it is an optional
    dependency (the `viz` extra), so `import minigraph` works with numpy alone."""
    try:
        import graphviz
    except ImportError:
        raise MissingDependencyError(
            "drawing a graph needs the `graphviz` Python package: pip install 'minigraph[viz]' "
            "(or pip install graphviz)"
        ) from None
    return graphviz


def to_dot(
    program: Any,
    block_idx: int = 0,
    show_shapes: bool = True,
    show_grad: bool = True,
    show_optimizer: bool = True,
    highlight: Any = None,
    group_by_namescope: bool = False,
    max_nodes_warning: int | None = 500,
    legend: bool = True,
    inline_params: bool = False,
    hide_unused: bool = False,
    collapse_backward: bool = False,
) -> graphviz.Digraph:
    """Draw one block of `program` as a Graphviz graph.

    Ops are boxes labelled with their type and key attributes (batch_norm shows its mode:
    "train (batch stats)", "test (running stats)" or "global stats"), coloured by role:
    forward (dark grey), loss (red), backward (purple), optimizer (blue). Variables are
    ellipses showing name, dtype and shape (`show_shapes`), coloured as feed data (green),
    parameters (teal), persistable state such as moving statistics and optimizer
    accumulators (lavender), gradients (pink) and temporaries (grey). Edges carry slot names.
    A value an op overwrites (batch_norm's MeanOut is Mean, sgd's ParamOut is Param) gets a
    second, dashed node `name (updated)`, so the graph never has a cycle. Only variables
    some drawn op touches appear (all of them for a block without ops).

    Args:
        block_idx: which block to draw.
        show_grad: False hides backward ops and `@GRAD` variables.
        show_optimizer: False hides optimizer ops (op role Optimize).
        highlight: a regex or a list of regexes; matching variable names and op types are
            filled orange, with their edges.
        group_by_namescope: put ops (and variables only they touch) in one cluster per
            `name_scope`.
        max_nodes_warning: warn (never fail) when the graph has more nodes; None disables.
        legend: add a colour key under the graph.
        inline_params: draw each persistable input (parameters, moving statistics, optimizer
            state) as a row inside its op's box, with slot, name, dtype and shape, instead
            of as a node; an in-place update marks the row "updated". Much more readable
            for whole models.
        hide_unused: leave out temporary outputs no drawn op reads (batch_norm's
            SavedMean/SavedVariance in a forward graph), except an op's first output.
        collapse_backward: draw the backward and optimizer ops of each forward op as one
            dashed box beside it, listing them (the HTML viewer expands it on a click).

    The same program always gives the same DOT text: node ids come from names
    (`var_fc_0.w_0`, `op_3_batch_norm`), and nodes are emitted in op order.

        dot = mg.viz.to_dot(main, show_grad=False, highlight="batch_norm")
        print(dot.source)
        model = mg.viz.to_dot(test_program, inline_params=True, hide_unused=True)
    """
    block_idx, model = graph_model(
        program, block_idx, show_grad, show_optimizer, highlight, inline_params, hide_unused, collapse_backward
    )
    n = len(model.nodes)
    if max_nodes_warning is not None and n > max_nodes_warning:
        warnings.warn(
            f"the graph of block {block_idx} has {n} nodes (more than max_nodes_warning={max_nodes_warning}); "
            "Graphviz may take long to lay it out. Hide backward/optimizer ops (show_grad=False, "
            "show_optimizer=False), collapse them (collapse_backward=True) or draw fewer ops.",
            stacklevel=2,
        )
    return model_to_dot(model, show_shapes=show_shapes, group_by_namescope=group_by_namescope, legend=legend)


def graph_model(program: Any, block_idx: int = 0, *options: Any, **named: Any) -> tuple[int, GraphModel]:
    """(block index, GraphModel) of one block. `options` are `build_model`'s, positional or
    by name; to_dot's options about how to draw (shapes, clusters, legend) are ignored."""
    blocks = program.blocks if isinstance(program, Program) else None
    if blocks is None:
        raise VizError(f"to_dot expects a minigraph Program, got {type(program).__name__}")
    if not isinstance(block_idx, int) or not 0 <= block_idx < len(blocks):
        raise VizError(f"block_idx={block_idx!r} is out of range: the program has {len(blocks)} block(s)")
    drawing = ("show_shapes", "group_by_namescope", "max_nodes_warning", "legend")
    model = build_model(blocks[block_idx], *options, **{k: v for k, v in named.items() if k not in drawing})
    return block_idx, model


def model_to_dot(
    model: GraphModel, show_shapes: bool = True, group_by_namescope: bool = False, legend: bool = True
) -> graphviz.Digraph:
    """The DOT graph of a GraphModel (see `to_dot`)."""
    graphviz = _graphviz()
    g = graphviz.Digraph(
        name=f"block{model.block_idx}",
        graph_attr={
            "rankdir": "TB",
            "fontname": style.FONT,
            "fontsize": "10",
            "nodesep": "0.3",
            "ranksep": "0.35",
        },
        node_attr={"fontname": style.FONT, "fontsize": "10", "style": "filled", "margin": "0.12,0.04"},
        edge_attr={"fontname": style.FONT, "fontsize": "8", "arrowsize": "0.6"},
    )
    if legend:
        g.attr(label=_legend(model, any(n.highlighted for n in model.nodes)), labelloc="b", labeljust="l")

    # Nodes go into namescope clusters (a tree), edges all at top level so they never
    # pull a node into a cluster it does not belong to.
    members: dict[tuple[str, ...], list[VarNode | OpNode | GroupNode]] = {(): []}
    children: dict[tuple[str, ...], list[tuple[str, ...]]] = {(): []}
    for node in model.nodes:
        scope: tuple[str, ...] = ()
        if group_by_namescope:
            scope = node.scope
        for depth in range(1, len(scope) + 1):
            path = scope[:depth]
            if path not in members:
                members[path], children[path] = [], []
                children[path[:-1]].append(path)
        members[scope].append(node)
    _emit_scope(g, (), members, children, show_shapes)

    for e in model.edges:
        color = style.HIGHLIGHT_EDGE if e.highlighted else style.EDGE_COLOR[e.kind]
        attrs = {"label": e.label, "color": color, "fontcolor": color}
        if e.highlighted:
            attrs["penwidth"] = "2"
        if e.kind == "group":
            attrs.update(style="dashed", arrowhead="none", constraint="false")
            del attrs["label"]
        g.edge(e.tail, e.head, **attrs)
    return g


def _emit_scope(
    g: graphviz.Digraph,
    path: tuple[str, ...],
    members: dict[tuple[str, ...], list[VarNode | OpNode | GroupNode]],
    children: dict[tuple[str, ...], list[tuple[str, ...]]],
    show_shapes: bool,
) -> None:
    for node in members[path]:
        if isinstance(node, OpNode):
            g.node(node.id, **_op_attrs(node, show_shapes))
        elif isinstance(node, GroupNode):
            g.node(node.id, **_group_attrs(node))
            if node.anchor is not None:  # beside its forward op, not below everything
                with g.subgraph() as same:
                    same.attr(rank="same")
                    same.node(node.anchor.id)
                    same.node(node.id)
        else:
            g.node(node.id, **_var_attrs(node, show_shapes))
    for child in children[path]:
        with g.subgraph(name="cluster_" + sanitize("/".join(child))) as sub:
            sub.attr(label=child[-1], style="rounded,dashed", color="#888888", fontcolor="#555555")
            _emit_scope(sub, child, members, children, show_shapes)


def _text(lines: list[str]) -> str:
    # Backslashes in names are doubled so DOT does not read them as escapes (\n, \l, ...);
    # nohtml keeps a label like "<x>" from being taken for an HTML label.
    return _graphviz().nohtml("\\n".join(line.replace("\\", "\\\\") for line in lines))


def _tooltip(text: str) -> str:
    return " ".join(text.split()).replace("\\", "\\\\")


def _op_attrs(node: OpNode, show_shapes: bool = True) -> dict[str, str]:
    colours = dict(style.OP_STYLE[style.op_look(node.op, node.kind)])
    if node.highlighted:
        colours.update(style.HIGHLIGHT_STYLE)
    if node.params:
        attrs = {"label": _op_table(node, colours, show_shapes), "shape": "plain"}
    else:
        attrs = {"label": _text([node.op.type, *style.key_attr_lines(node.op)]), "shape": "box"}
        attrs.update(colours)
    attrs["tooltip"] = _tooltip(f"#{node.index} {op_line(node.op)}")
    return attrs


def _op_table(node: OpNode, colours: dict[str, str], show_shapes: bool) -> str:
    """An HTML-like label: the op's type and key attributes over one row per persistable
    input (slot | name | dtype[shape])."""
    e = html.escape
    ncol = 3 if show_shapes else 2
    head = f'<font color="{colours["fontcolor"]}"><b>{e(node.op.type)}</b></font>'
    rows = [f'<tr><td colspan="{ncol}" bgcolor="{colours["fillcolor"]}">{head}</td></tr>']
    for line in style.key_attr_lines(node.op):
        cell = f'<font color="{colours["fontcolor"]}" point-size="9">{e(line)}</font>'
        rows.append(f'<tr><td colspan="{ncol}" bgcolor="{colours["fillcolor"]}">{cell}</td></tr>')
    for r in node.params:
        slot_style = style.HIGHLIGHT_STYLE if r.highlighted else style.VAR_STYLE[r.kind]
        fill = style.HIGHLIGHT_STYLE["fillcolor"] if r.highlighted else style.ROW_FILL[r.kind]
        name = e(r.name) + (' <font point-size="9">(updated)</font>' if r.updated else "")
        cells = [
            f'<td align="left" bgcolor="{slot_style["fillcolor"]}">'
            f'<font color="{slot_style["fontcolor"]}" point-size="9">{e(r.slot)}</font></td>',
            f'<td align="left" bgcolor="{fill}">{name}</td>',
        ]
        if show_shapes:
            shape = f"{r.var.dtype}{shape_text(r.var.shape)}" if r.var is not None else ""
            cells.append(f'<td align="left" bgcolor="{fill}"><font point-size="9">{e(shape)}</font></td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<<table border="1" cellborder="0" cellspacing="0" cellpadding="3" color="{colours["color"]}">'
        + "".join(rows)
        + "</table>>"
    )


def _group_attrs(node: GroupNode) -> dict[str, str]:
    n = len(node.members)
    parts = [f"{k} {node.kinds[k]}" for k in ("backward", "optimize") if node.kinds.get(k)]
    counts: dict[str, int] = {}
    for t in node.types:
        counts[t] = counts.get(t, 0) + 1
    listed = [t if c == 1 else f"{t} x{c}" for t, c in counts.items()]
    lines = [f"+ {n} training op{'s' if n != 1 else ''} ({', '.join(parts).replace('optimize', 'optimizer')})"]
    # a few op types per line keeps the box narrow
    lines += [", ".join(listed[i : i + 2]) for i in range(0, len(listed), 2)]
    attrs = {"label": _text(lines), "shape": "box", "style": "filled,dashed,rounded", "fontsize": "9"}
    attrs.update(style.HIGHLIGHT_STYLE if node.highlighted else style.GROUP_STYLE)
    what = f"of #{node.anchor.index} {node.anchor.op.type}" if node.anchor is not None else "tied to no forward op"
    attrs["tooltip"] = _tooltip(f"backward and optimizer ops {what}: {', '.join(node.types)}")
    return attrs


def _var_attrs(node: VarNode, show_shapes: bool) -> dict[str, str]:
    name = node.name if node.version == 0 else f"{node.name} (updated)"
    lines = [name]
    if show_shapes and node.var is not None:
        lines.append(f"{node.var.dtype}{shape_text(node.var.shape)}")
    attrs = {"label": _text(lines), "shape": "ellipse"}
    attrs.update(style.VAR_STYLE[node.kind])
    if node.version:
        attrs["style"] = "filled,dashed"
    if node.highlighted:
        attrs.update(style.HIGHLIGHT_STYLE)
    attrs["tooltip"] = _tooltip(var_line(node.var) if node.var is not None else node.name)
    return attrs


def _legend(model: GraphModel, highlighted: bool) -> str:
    """An HTML-like table of the colours used, with a one-line summary of the block."""
    var_kinds = {n.kind for n in model.vars} | {r.kind for op in model.ops for r in op.params}
    op_kinds = {style.op_look(n.op, n.kind) for n in model.ops}
    cells = []
    for kind in style.OP_KINDS:
        if kind in op_kinds:
            cells.append(_cell(style.OP_LEGEND[kind], style.OP_STYLE[kind]))
    for kind in style.VAR_KINDS:
        if kind in var_kinds:
            cells.append(_cell(style.VAR_LEGEND[kind], style.VAR_STYLE[kind]))
    if model.groups:
        cells.append(_cell(style.GROUP_LEGEND, style.GROUP_STYLE))
    if highlighted:
        cells.append(_cell("highlighted", style.HIGHLIGHT_STYLE))
    summary = f"block {model.block_idx}: {len(model.ops)} ops, {len(model.vars)} variable nodes"
    if model.groups:
        collapsed = sum(len(g.members) for g in model.groups)
        summary += f", {collapsed} training ops in {len(model.groups)} boxes"
    if model.hidden_ops:
        summary += f" ({model.hidden_ops} ops hidden)"
    if any(n.version for n in model.vars):
        summary += "; dashed &quot;name (updated)&quot;: the value after an in-place write"
    return (
        '<<table border="0" cellborder="1" cellspacing="3" cellpadding="3">'
        f'<tr><td border="0" align="left" colspan="{max(len(cells), 1)}">{summary}</td></tr>'
        f"<tr>{''.join(cells)}</tr></table>>"
    )


def _cell(text: str, colours: dict[str, str]) -> str:
    return (
        f'<td bgcolor="{colours["fillcolor"]}" color="{colours["color"]}">'
        f'<font color="{colours["fontcolor"]}" point-size="9">{html.escape(text)}</font></td>'
    )
