"""save_persistables / load_persistables: a checkpoint of every persistable variable.

A checkpoint directory holds `persistables.json` (format version, then the tensor
manifest: the archive's file name and sha256, names, keys, dtypes, shapes, and the
persistables that had no value when saving) and the archive it names,
`persistables.<16 hex digits of its sha256>.npz` (the arrays, written with np.savez). With
`filename="ckpt.npz"` the pair is `ckpt.json` / `ckpt.<hex>.npz`. Replacing the manifest is
the one commit point of a save (minigraph.io.atomic); checkpoints written before archives
were content-addressed (`persistables.npz`) load as well.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from minigraph.errors import ArgumentTypeError, InvalidArgumentError, ModelFormatError
from minigraph.executor.scope import Scope, global_scope
from minigraph.io.atomic import load_committed, save_committed
from minigraph.io.files import check_header, dump_json, read_json
from minigraph.io.tensors import TensorSetWriter, archive_file, load_tensors, parse_manifest, unprovided
from minigraph.ir.framework import default_main_program
from minigraph.ir.program import Program
from minigraph.ir.variable import Variable
from minigraph.types import shape_text

FORMAT = "minigraph.persistables"
FORMAT_VERSION = 1
DEFAULT_FILENAME = "persistables.npz"
PathLike = str | os.PathLike[str]


def persistable_vars(program: Program) -> list[Variable]:
    """The program's persistable variables, each name once, in declaration order."""
    seen: dict[str, Variable] = {}
    for v in program.list_vars():
        if v.persistable and v.name not in seen:
            seen[v.name] = v
    return list(seen.values())


def scope_values(scope: Scope, variables: list[Variable]) -> tuple[dict[str, np.ndarray], list[str]]:
    """(name -> value of each variable that has one, names of those without), checking that
    every value agrees with its declaration (a checkpoint that could not be loaded back is
    refused when saving, not discovered when loading)."""
    values: dict[str, np.ndarray] = {}
    uninitialized: list[str] = []
    for v in variables:
        sv = scope.find_var(v.name)
        if sv is None or not sv.is_initialized():
            uninitialized.append(v.name)
            continue
        arr = np.asarray(sv.get_tensor())
        ok_shape = arr.ndim == len(v.shape) and all(d < 0 or d == s for d, s in zip(v.shape, arr.shape))
        if arr.dtype.name != v.dtype or not ok_shape:
            raise InvalidArgumentError(
                f"cannot save {v.name!r}: the scope holds {arr.dtype.name}{shape_text(arr.shape)} but the "
                f"program declares {v.dtype}{shape_text(v.shape)}"
            )
        values[v.name] = arr
    return values, uninitialized


def file_names(filename: str | None, caller: str) -> tuple[str, str]:
    """(archive name, manifest name) for a user's `filename`."""
    name = DEFAULT_FILENAME if filename is None else filename
    if not isinstance(name, str) or not name or os.path.basename(name) != name or name in (".", ".."):
        raise InvalidArgumentError(f"{caller}: filename must be a plain file name inside dirname, got {filename!r}")
    stem = name[: -len(".npz")] if name.endswith(".npz") else name
    return name, f"{stem}.json"


def _resolve(
    main_program: Program | None,
    scope: Scope | None,
    dirname: str | os.PathLike[str],
    filename: str | None,
    caller: str,
) -> tuple[Program, Scope, str, tuple[str, str]]:
    """The defaults both entry points share: default program and scope, file names."""
    program = default_main_program() if main_program is None else main_program
    if not isinstance(program, Program):
        raise ArgumentTypeError(f"{caller}: main_program must be a Program, got {type(program).__name__}")
    if scope is not None and not isinstance(scope, Scope):
        raise ArgumentTypeError(f"{caller}: scope must be a Scope, got {type(scope).__name__}")
    if not isinstance(dirname, (str, os.PathLike)):
        raise ArgumentTypeError(f"{caller}: dirname must be a path, got {type(dirname).__name__}")
    return program, global_scope() if scope is None else scope, os.fspath(dirname), file_names(filename, caller)


def save_persistables(
    executor: Any,
    dirname: PathLike,
    main_program: Program | None = None,
    filename: str | None = None,
    scope: Scope | None = None,
) -> None:
    """Save the value of every persistable variable of `main_program` (default: the default
    main program) found in `scope` (default: the global scope): parameters, batch_norm
    statistics, optimizer accumulators, learning rates.

    Writes `dirname/persistables.json` and the archive it names (with `filename="ckpt.npz"`:
    `ckpt.json`, `ckpt.<hex>.npz`) with one commit point: however a save is interrupted, the
    directory holds the previous checkpoint or the new one, whole. Files that interrupted
    saves left behind are deleted by the next save.
    `executor` is accepted for Paddle compatibility; values come from the scope.

        mg.io.save_persistables(exe, "ckpt", main_program=main)
    """
    program, scope, dirname, (archive, manifest_name) = _resolve(
        main_program, scope, dirname, filename, "save_persistables"
    )
    variables = persistable_vars(program)
    values, uninitialized = scope_values(scope, variables)
    if variables and not values:
        raise InvalidArgumentError(
            f"none of the program's {len(variables)} persistable variables has a value in the scope; "
            f"run the startup program (or load a checkpoint) before saving"
        )
    tensors = TensorSetWriter(values, uninitialized)

    def write_manifest(f: Any, archive_name: str, sha256: str) -> None:
        dump_json({"format": FORMAT, "version": FORMAT_VERSION, **tensors.manifest(archive_name, sha256)}, f)

    save_committed(
        dirname, manifest_name, tensors.write, write_manifest, lambda doc: archive_file(doc, archive), archive
    )


def load_persistables(
    executor: Any,
    dirname: str | os.PathLike[str],
    main_program: Program | None = None,
    filename: str | None = None,
    scope: Scope | None = None,
    allow_partial: bool = False,
) -> None:
    """Load a checkpoint written by `save_persistables` into `scope` (default: the global scope).

    Every persistable variable of `main_program` must be in the checkpoint with its declared
    dtype and shape (tensors the program does not declare are ignored, so a training
    checkpoint loads into its test program). A checkpoint that has no value for some of
    them (they were uninitialized when it was saved) is refused, naming them, unless
    `allow_partial=True`; one with a value for none of them is always refused. Everything
    is checked before the first value is written: on any error the scope is unchanged.

        mg.io.load_persistables(exe, "ckpt", main_program=test_program)
    """
    program, scope, dirname, (archive, manifest_name) = _resolve(
        main_program, scope, dirname, filename, "load_persistables"
    )
    manifest_path = os.path.join(dirname, manifest_name)
    variables = persistable_vars(program)

    def load() -> dict[str, np.ndarray]:
        doc = read_json(manifest_path, "checkpoint manifest")
        check_header(doc, manifest_path, FORMAT, FORMAT_VERSION)
        manifest = parse_manifest(doc, manifest_path, default_file=archive)
        absent = unprovided(manifest, variables)
        if absent and len(absent) == len(variables):
            raise ModelFormatError(
                f"{manifest_path}: the checkpoint holds a value for none of the program's {len(variables)} "
                f"persistable variable(s) (all were uninitialized when it was saved); nothing to load"
            )
        if absent and not allow_partial:
            shown = ", ".join(repr(n) for n in absent[:10]) + (
                f", ... ({len(absent)} in all)" if len(absent) > 10 else ""
            )
            raise ModelFormatError(
                f"{manifest_path}: the checkpoint has no value for {shown} (uninitialized when it was saved); "
                f"pass allow_partial=True to load the others"
            )
        return load_tensors(dirname, manifest, variables, manifest_path)

    for name, arr in load_committed(manifest_path, load).items():
        scope._set_value(name, arr)
