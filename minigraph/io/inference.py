"""save_inference_model / load_inference_model: a pruned, test-mode program plus its weights.

A model directory holds two files:
* `model.json`: format version, the program (`Program.to_dict()`), the feed and fetch
  variable names, and the manifest of the weights (the archive's file name and sha256,
  names, dtypes, shapes);
* `model.<16 hex digits of its sha256>.npz`: the values of the persistables the program
  uses, written with np.savez.

The archive is written first under its content-addressed name, then `model.json` is
replaced in one rename: the save's only commit point (minigraph.io.atomic), so however a
save is interrupted the directory holds the previous model or the new one, whole. Models
written before archives were content-addressed (`params.npz`) load as well.

The exported program is built as Paddle builds it: clone with for_test=True (drops
backward and optimizer ops, sets `is_test=True` on every op that has it), then prune to the
ops that compute the targets from the feeds (`minigraph.passes.prune`), keeping only the
variables those ops use. Inference passes run between the prune and the save, in
`_inference_program`: folding test-mode batch_norm into the preceding conv/fc
(`minigraph.passes.fold`, on by default, `fold_batch_norm=False` turns it off).
"""

from __future__ import annotations

import os
from typing import Any

from minigraph.errors import ArgumentTypeError, InvalidArgumentError, ModelFormatError, UninitializedVariableError
from minigraph.executor.scope import Scope, global_scope
from minigraph.io.atomic import load_committed, save_committed
from minigraph.io.files import check_header, dump_json, read_json
from minigraph.io.persistables import persistable_vars, scope_values
from minigraph.io.tensors import TensorSetWriter, archive_file, load_tensors, parse_manifest, unprovided
from minigraph.ir.framework import default_main_program
from minigraph.ir.program import Program, program_from_dict
from minigraph.ir.variable import Variable
from minigraph.passes.fold import fold_batch_norm as _fold_batch_norm
from minigraph.passes.prune import prune

FORMAT = "minigraph.inference_model"
FORMAT_VERSION = 1
MODEL_FILE = "model.json"
LEGACY_PARAMS_FILE = "params.npz"  # the archive's fixed name before it was content-addressed


def _names(items: Any, what: str, program: Program) -> list[str]:
    """Variable names from names or Variables (one item or a list); Variables must belong to
    `program` (a Variable of another program is a classic source of confusing failures)."""
    where = f"save_inference_model: {what}"
    if isinstance(items, (str, Variable)):
        items = [items]
    if not isinstance(items, (list, tuple)) or not items:
        raise ArgumentTypeError(f"{where} must be a non-empty list of variable names or Variables, got {items!r}")
    names = []
    for item in items:
        if isinstance(item, Variable):
            if item.block.program is not program:
                raise InvalidArgumentError(f"{where}: Variable {item.name!r} belongs to another program")
            names.append(item.name)
        elif isinstance(item, str):
            names.append(item)
        else:
            raise ArgumentTypeError(f"{where} items must be variable names or Variables, got {type(item).__name__}")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InvalidArgumentError(f"{where}: {dupes} listed more than once")
    return names


def _by_name_in(program: Program, items: Any) -> Any:
    """Variables of a clone of `program` (or of the program it was cloned from) replaced by
    their names: fluid scripts pass targets built in the program a test clone came from."""
    if isinstance(items, Variable):
        items = [items]
    if not isinstance(items, (list, tuple)):
        return items
    block = program.global_block()

    def related(v: Variable) -> bool:
        other = v.block.program
        return other is not program and other._lineage == program._lineage and block.has_var(v.name)

    return [v.name if isinstance(v, Variable) and related(v) else v for v in items]


def _check_filenames(model_filename: Any, params_filename: Any) -> None:
    for what, value in (("model_filename", model_filename), ("params_filename", params_filename)):
        if value is not None and not isinstance(value, str):
            raise ArgumentTypeError(f"{what} must be a file name (str) or None, got {value!r}")


def _inference_program(
    program: Program, feeds: list[str], targets: list[str], scope: Scope | None = None
) -> tuple[Program, list[str]]:
    """The test-mode program pruned to `targets`, and the persistables it reads from the scope.
    With a `scope`, batch_norm is folded into the conv/fc before it (minigraph.passes.fold),
    the folded weights going to that scope."""
    result = prune(program.clone(for_test=True), feeds, targets)
    pruned, external = result.program, result.external_persistables
    if scope is None:
        return pruned, external
    folded = _fold_batch_norm(pruned, scope, keep=feeds + targets)
    block, before = folded.global_block(), pruned.global_block()
    added = [v.name for v in persistable_vars(folded) if not before.has_var(v.name)]
    return folded, [n for n in external if block.has_var(n)] + added


def save_inference_model(
    dirname: str | os.PathLike[str],
    feeded_var_names: Any,
    target_vars: Any,
    executor: Any,
    main_program: Program | None = None,
    model_filename: str | None = None,
    params_filename: str | None = None,
    export_for_deployment: bool = True,
    scope: Scope | None = None,
    fold_batch_norm: bool = True,
) -> list[str]:
    """Export the part of `main_program` that computes `target_vars` from `feeded_var_names`,
    in test mode, with the values of the persistables it uses (taken from `scope`, default
    the global scope). Returns the fetch names. `executor` is accepted for Paddle
    compatibility. A target Variable of another program (the program a test clone was made
    from, say) stands for the variable of that name in `main_program`.

    `model_filename` and `params_filename` are accepted so fluid scripts run unchanged: a
    model directory always holds minigraph's own two files (see the module docstring), so
    loading needs only the directory whatever names were given. `export_for_deployment` is
    accepted and ignored (the saved program is always pruned for inference).

    By default each test-mode batch_norm that follows a conv2d or fc is folded into that
    op's weights (minigraph.passes.fold: same outputs to float rounding, one op less);
    `fold_batch_norm=False` exports the program unchanged. The folded weights are
    computed from `scope` but not stored in it.

    Raises FeedError when a target needs a data variable that is not fed (naming it) or a
    feed is not used by the targets, FetchError for an unknown target, and
    UninitializedVariableError when a needed persistable has no value yet.

        mg.io.save_inference_model("model", ["x"], [probs], exe, main_program=main)
    """
    program = default_main_program() if main_program is None else main_program
    if not isinstance(program, Program):
        raise ArgumentTypeError(f"save_inference_model: main_program must be a Program, got {type(program).__name__}")
    _check_filenames(model_filename, params_filename)
    scope = global_scope() if scope is None else scope
    dirname = os.fspath(dirname)
    feeds = _names(feeded_var_names, "feeded_var_names", program)
    targets = _names(_by_name_in(program, target_vars), "target_vars", program)
    # Folded weights go to a child scope: the caller's scope gains nothing.
    work_scope = Scope(parent=scope) if fold_batch_norm else None
    infer_program, external = _inference_program(program, feeds, targets, work_scope)
    values, uninitialized = scope_values(work_scope or scope, persistable_vars(infer_program))
    missing = [n for n in external if n not in values]
    if missing:
        raise UninitializedVariableError(
            f"cannot save the inference model: persistable variable(s) {missing} have no value in the scope; "
            f"run the startup program (and train, or load a checkpoint) first"
        )
    tensors = TensorSetWriter(values, uninitialized)
    program_dict = infer_program.to_dict()

    def write_model(f: Any, archive_name: str, sha256: str) -> None:
        doc = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "feed": feeds,
            "fetch": targets,
            "params": tensors.manifest(archive_name, sha256),
            "program": program_dict,
        }
        dump_json(doc, f)

    def archive_of(doc: Any) -> str | None:
        return archive_file(doc.get("params"), LEGACY_PARAMS_FILE) if isinstance(doc, dict) else None

    save_committed(dirname, MODEL_FILE, tensors.write, write_model, archive_of, legacy_archive=LEGACY_PARAMS_FILE)
    return targets


def load_inference_model(
    dirname: str | os.PathLike[str],
    executor: Any,
    model_filename: str | None = None,
    params_filename: str | None = None,
    scope: Scope | None = None,
) -> tuple[Program, list[str], list[Variable]]:
    """Load a model written by `save_inference_model`: returns `(program, feed_target_names,
    fetch_targets)` (fetch_targets are Variables of the loaded program) and puts the weights
    into `scope` (default: the global scope). Files are read as data only and checked
    completely (program against the op registry, every weight's presence, dtype and shape)
    before anything is written to the scope. `model_filename` and `params_filename` are
    accepted as `save_inference_model` accepts them.

        program, feeds, fetches = mg.io.load_inference_model("model", exe)
        probs, = exe.run(program, feed={feeds[0]: x}, fetch_list=fetches)
    """
    _check_filenames(model_filename, params_filename)
    scope = global_scope() if scope is None else scope
    dirname = os.fspath(dirname)
    model_path = os.path.join(dirname, MODEL_FILE)
    program, feeds, fetches, arrays = load_committed(model_path, lambda: _load_model(dirname, model_path))
    for name, arr in arrays.items():
        scope._set_value(name, arr)
    block = program.global_block()
    return program, feeds, [block.var(n) for n in fetches]


def _load_model(dirname: str, model_path: str) -> tuple[Program, list[str], list[str], dict[str, Any]]:
    """Read and check everything (program, feeds, fetches, weights); write nothing."""
    doc = read_json(model_path, "inference model")
    check_header(doc, model_path, FORMAT, FORMAT_VERSION)
    for key in ("feed", "fetch"):
        if not isinstance(doc.get(key), list) or not all(isinstance(n, str) for n in doc[key]):
            raise ModelFormatError(f"{model_path}: field {key!r} must be a list of variable names")
    if "program" not in doc:
        raise ModelFormatError(f"{model_path}: field 'program' is missing")
    program = program_from_dict(doc["program"], source=model_path)
    block = program.global_block()
    for key in ("feed", "fetch"):
        for name in doc[key]:
            if not block.has_var(name):
                raise ModelFormatError(f"{model_path}: {key} variable {name!r} is not a variable of the program")
    manifest = parse_manifest(doc.get("params"), f"{model_path} (params)", default_file=LEGACY_PARAMS_FILE)
    variables = persistable_vars(program)
    needed = set(_read_before_written(program))
    absent = [n for n in unprovided(manifest, variables) if n in needed]
    if absent:
        raise ModelFormatError(
            f"{model_path}: the model has no value for persistable variable(s) {absent}, which the program "
            f"reads (they were recorded as uninitialized when it was saved)"
        )
    arrays = load_tensors(dirname, manifest, variables, model_path)
    return program, list(doc["feed"]), list(doc["fetch"]), arrays


def _read_before_written(program: Program) -> list[str]:
    """Persistables some op reads before any op writes them: their values must come from the file."""
    written: set[str] = set()
    needed: list[str] = []
    for block in program.blocks:
        for op in block.ops:
            for name in op.input_arg_names:
                v = block._find_var_recursive(name)
                if v is not None and v.persistable and name not in written and name not in needed:
                    needed.append(name)
            written.update(op.output_arg_names)
    return needed
