"""export / export_inference_model: a test-mode program as an ONNX model file.

The path: refuse training programs; prune to what the fetches need from the feeds
(`minigraph.passes.prune`); refuse ops without a converter; fold test-mode batch_norm into the
conv/fc before it (`minigraph.passes.fold`, into a child scope, as save_inference_model does);
then one converter per op writes ONNX nodes (`minigraph.onnx.emitter`). Feeds become graph
inputs and fetches graph outputs under their variable names, an unknown leading dimension
is the symbolic "batch", and the persistables the program reads become initializers.

The model is checked with `onnx.checker.check_model(full_check=True)` and serialised in
memory before anything touches the disk; the file is then written to a temporary next to
`path` and renamed over it, so a failed export writes nothing. The same program and values
give the same bytes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np

from minigraph.errors import ExportError
from minigraph.executor import Executor
from minigraph.executor.scope import Scope, global_scope
from minigraph.io.atomic import write_file
from minigraph.io.inference import load_inference_model
from minigraph.ir.block import Block
from minigraph.ir.operator import OpRole
from minigraph.ir.program import Program
from minigraph.ir.variable import Variable
from minigraph.onnx import convert_math, convert_nn, convert_pool, convert_tensor  # noqa: F401  (register converters)
from minigraph.onnx.deps import check_opset, require_onnx
from minigraph.onnx.emitter import CONVERTERS, Emitter, where_built
from minigraph.passes.fold import fold_batch_norm as _fold_batch_norm
from minigraph.passes.prune import prune

# Outputs that only serve gradients or training; never a default fetch, never exported.
AUXILIARY_OUTPUTS = frozenset({"XShape", "Mask", "SavedMean", "SavedVariance", "MeanOut", "VarianceOut"})
BATCH = "batch"


def export(
    program: Program,
    path: str | os.PathLike[str],
    feed: Any = None,
    fetch: Any = None,
    scope: Scope | None = None,
    opset_version: int = 17,
    *,
    fold_batch_norm: bool = True,
) -> str:
    """Write the part of `program` that computes `fetch` from `feed` as an ONNX model at
    `path` and return `path`. `feed`/`fetch` are names or Variables (one or a list):
    by default the data variables the fetches need, and the variables the program computes
    and no op reads (for a program from `load_inference_model`: its fetch targets).
    Parameter values come from `scope` (default: the global scope). The program must be in
    test mode (`main.clone(for_test=True)`, made before `minimize`).

    Raises ExportError (a MinigraphError) for a training program, an op without an ONNX
    mapping (naming it and where it was built) or a parameter without a value; nothing is
    written then.

        test_program = main.clone(for_test=True)
        ...train...
        mg.onnx.export(test_program, "model.onnx", feed=["x"], fetch=[logits])
    """
    onnx = require_onnx()
    check_opset(onnx, opset_version)
    if not isinstance(program, Program):
        raise ExportError(f"export needs a Program, got {type(program).__name__}")
    path = os.fspath(path)
    scope = global_scope() if scope is None else scope
    _refuse_training(program)
    if program.num_blocks > 1:
        raise ExportError("exporting a program with sub-blocks (control flow) is not supported")
    block = program.global_block()
    fetches = _names(fetch, "fetch") if fetch is not None else default_fetch(block)
    feeds = _names(feed, "feed") if feed is not None else needed_data(block, fetches)
    pruned = prune(program, feeds, fetches).program
    _refuse_unexportable(pruned)
    work_scope = Scope(parent=scope)  # folded weights land here, never in the caller's scope
    if fold_batch_norm:
        pruned = _fold_batch_norm(pruned, work_scope, keep=feeds + fetches)
    model = _model(onnx, pruned, feeds, fetches, work_scope, opset_version)
    data = model.SerializeToString()
    write_file(path, lambda f: f.write(data))
    return path


def export_inference_model(
    dirname: str | os.PathLike[str], path: str | os.PathLike[str], opset_version: int = 17
) -> str:
    """Export a model saved by `save_inference_model` (its feeds, fetches and weights) to
    ONNX at `path`; returns `path`. The weights are read into a private scope.

        mg.onnx.export_inference_model("digits_model", "digits.onnx")
    """
    require_onnx()  # fail on a missing package before reading the model
    scope = Scope()
    program, feeds, fetches = load_inference_model(dirname, Executor(), scope=scope)
    return export(program, path, feeds, [v.name for v in fetches], scope, opset_version)


# --- what to export ----------------------------------------------------------------------------


def _names(items: Any, what: str) -> list[str]:
    if isinstance(items, (str, Variable)):
        items = [items]
    # no feeds is fine (a graph of constants); no fetches is not
    if not isinstance(items, (list, tuple)) or (what == "fetch" and not items):
        raise ExportError(f"{what} must be a variable name or Variable, or a non-empty list of them; got {items!r}")
    names = []
    for item in items:
        if not isinstance(item, (str, Variable)):
            raise ExportError(f"{what} items must be variable names or Variables, got {type(item).__name__}")
        names.append(item if isinstance(item, str) else item.name)
    if len(set(names)) != len(names):
        raise ExportError(f"{what} lists a variable more than once: {names}")
    return names


def default_fetch(block: Block) -> list[str]:
    """The variables ops compute and no op reads, leaving out auxiliary outputs."""
    read = {n for op in block.ops for n in op.input_arg_names}
    found: list[str] = []
    for op in block.ops:
        for slot, names in op.outputs.items():
            for n in names:
                if slot not in AUXILIARY_OUTPUTS and n not in read and not block.var(n).persistable and n not in found:
                    found.append(n)
    if not found:
        raise ExportError("the program computes nothing that no op reads; say what to export with fetch=[...]")
    return found


def needed_data(block: Block, targets: Sequence[str]) -> list[str]:
    """The data variables `targets` depend on, in the program's order."""
    live = set(targets)
    for op in reversed(block.ops):
        if any(n in live for n in op.output_arg_names):
            live.difference_update(op.output_arg_names)
            live.update(op.input_arg_names)
    return [n for n, v in block.vars.items() if v.is_data and n in live]


def _refuse_training(program: Program) -> None:
    ops = [op for b in program.blocks for op in b.ops if op.role & (OpRole.BACKWARD | OpRole.OPTIMIZE)]
    if ops:
        # name an optimizer op when there is one: the clearest sign of a training program
        op = next((o for o in ops if o.role & OpRole.OPTIMIZE), ops[0])
        raise ExportError(
            f"cannot export a training program: it holds {len(ops)} backward/optimizer op(s), e.g. {op.type!r} "
            f"({where_built(op)}). Export its test clone, made before minimize(): "
            f"test_program = main.clone(for_test=True)"
        )


def _refuse_unexportable(program: Program) -> None:
    ops = program.global_block().ops
    for op in ops:
        if op.attrs.get("is_test") is False:
            raise ExportError(
                f"cannot export op {op.type!r} ({where_built(op)}): it runs in training mode (is_test=False). "
                f"Export the test clone instead: test_program = main.clone(for_test=True)"
            )
    unsupported = [op for op in ops if op.type not in CONVERTERS]
    if unsupported:
        op = unsupported[0]
        others = sorted({o.type for o in unsupported[1:]} - {op.type})
        also = f" (also unsupported here: {', '.join(others)})" if others else ""
        raise ExportError(
            f"cannot export op {op.type!r} ({where_built(op)}): it has no ONNX mapping{also}. "
            f"Mapped op types: {', '.join(sorted(CONVERTERS))}"
        )


# --- building the model ------------------------------------------------------------------------


def _model(onnx: ModuleType, program: Program, feeds: list[str], fetches: list[str], scope: Scope, opset: int) -> Any:
    block = program.global_block()
    params = _external_persistables(block, set(feeds))
    missing = [n for n in params if scope.find_var(n) is None or not scope.find_var(n).is_initialized()]
    if missing:
        raise ExportError(
            f"parameter(s) {missing} have no value in the scope: run the startup program (and train or load "
            f"the weights) first, or pass the scope that holds them (scope=...)"
        )
    values = {n: _value(scope, block.var(n)) for n in params}
    emitter = Emitter(onnx, block, block.ops, opset, defined=feeds + params)
    for i, op in enumerate(block.ops):
        emitter.convert(i, op)
    for name in fetches:
        if emitter.value(name) != name:
            raise ExportError(f"fetch {name!r} cannot keep its name in the ONNX graph (it is a feed or a parameter)")
    # Only what the nodes read: a batch_norm normalising with batch statistics leaves its
    # running statistics unread, and onnxruntime warns about unused initializers.
    used = {n for node in emitter.nodes for n in node.input} | set(fetches)
    initializers = [onnx.numpy_helper.from_array(values[n], n) for n in params if n in used]
    helper = onnx.helper
    graph = helper.make_graph(
        emitter.nodes,
        "minigraph",
        [_value_info(onnx, block.var(n), symbolic_all=True) for n in feeds],
        [_value_info(onnx, block.var(n), symbolic_all=False) for n in fetches],
        initializer=initializers + emitter.constants,
    )
    opset_id = helper.make_opsetid("", opset)
    # NOTE: no producer_version: reading the installed version (importlib.metadata) would add
    # 14 ms to `import minigraph`, and the file must not depend on how minigraph was installed.
    model = helper.make_model(graph, opset_imports=[opset_id], producer_name="minigraph")
    model.ir_version = helper.find_min_ir_version_for([opset_id])  # what older runtimes accept
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # noqa: BLE001 -- the checker raises several types; all mean an exporter bug
        raise ExportError(f"internal error: the exported model fails onnx.checker ({e}); please report it") from e
    return model


def _external_persistables(block: Block, fed: set[str]) -> list[str]:
    """Persistables read before any op writes them (their values come from the scope), in
    order of first use."""
    written: set[str] = set()
    found: list[str] = []
    for op in block.ops:
        for n in op.input_arg_names:
            if n not in written and n not in fed and n not in found and block.var(n).persistable:
                found.append(n)
        written.update(op.output_arg_names)
    return found


def _value(scope: Scope, var: Variable) -> np.ndarray:
    value = np.asarray(scope.find_var(var.name).get_tensor())
    if len(value.shape) != len(var.shape) or any(d >= 0 and d != v for d, v in zip(var.shape, value.shape)):
        raise ExportError(f"parameter {var.name!r} is declared {list(var.shape)} but holds {list(value.shape)}")
    return np.ascontiguousarray(value, dtype=var.dtype)


def _value_info(onnx: ModuleType, var: Variable, symbolic_all: bool) -> Any:
    """Type and shape; an unknown leading dim is "batch", other unknown dims are named
    after the input (`x.d2`) or, for outputs, left unnamed."""
    dims: list[Any] = []
    for i, d in enumerate(var.shape):
        if d >= 0:
            dims.append(d)
        elif i == 0:
            dims.append(BATCH)
        else:
            dims.append(f"{var.name}.d{i}" if symbolic_all else None)
    elem = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(var.dtype))
    return onnx.helper.make_tensor_value_info(var.name, elem, dims)
