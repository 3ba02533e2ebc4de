"""Named tensor sets: one `.npz` archive plus a manifest, and their validated loading.

The manifest (a JSON object stored next to, or inside, another JSON document) records
for each tensor its variable name, its key in the archive, dtype and shape, plus the
sha256 of the archive and the persistables that had no value when saving:

    {"file": "model.3f09c2d1a4b5e6f7.npz", "sha256": "...", "uninitialized": [],
     "tensors": [{"name": "fc_0.w_0", "key": "fc_0.w_0", "dtype": "float32", "shape": [4, 3]}]}

Loading checks the manifest against the program's declarations and the archive against
the manifest, and only then hands back the arrays, so callers can write them into a scope
all-or-nothing.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import IO, Any

import numpy as np

from minigraph.errors import ModelFormatError
from minigraph.io.files import open_npz, read_bytes, read_member, sha256_of
from minigraph.ir.variable import Variable
from minigraph.types import DTYPES, shape_text

# np.savez takes the archive as `file` and a flag as `allow_pickle`: variables with those
# names get another key in the archive (the manifest maps names to keys).
_SAVEZ_RESERVED = frozenset({"file", "allow_pickle"})


@dataclass
class TensorEntry:
    name: str
    key: str
    dtype: str
    shape: tuple[int, ...]


@dataclass
class TensorManifest:
    entries: dict[str, TensorEntry]
    sha256: str | None
    uninitialized: set[str]
    file: str  # the archive's file name, in the manifest's directory


class TensorSetWriter:
    """Writes `arrays` as an `.npz` archive (with np.savez) and then describes it.

    `write` is the archive writer and `manifest(file_name, sha256)` the manifest entry for
    `atomic.save_committed`, which names the archive after its content.
    """

    def __init__(self, arrays: Mapping[str, np.ndarray], uninitialized: Iterable[str] = ()) -> None:
        self.arrays = dict(arrays)
        self.uninitialized = sorted(uninitialized)
        self.keys: dict[str, str] = {}
        used: set[str] = set()
        for name in self.arrays:
            key = name
            while key in _SAVEZ_RESERVED or key in used:
                key = f"{key}@"
            self.keys[name] = key
            used.add(key)

    def write(self, f: IO[bytes]) -> None:
        np.savez(f, **{self.keys[n]: a for n, a in self.arrays.items()})

    def manifest(self, file_name: str, sha256: str) -> dict[str, Any]:
        return {
            "file": file_name,
            "sha256": sha256,
            "uninitialized": self.uninitialized,
            "tensors": [
                {"name": n, "key": self.keys[n], "dtype": a.dtype.name, "shape": list(a.shape)}
                for n, a in self.arrays.items()
            ],
        }


def archive_file(d: Any, default_file: str) -> str | None:
    """The archive file a manifest names (`default_file` if it has no 'file' field), if that
    is a plain file name; for `save_committed`, to delete the archive a save supersedes."""
    name = d.get("file", default_file) if isinstance(d, dict) else None
    return name if _plain_file_name(name) else None


def _plain_file_name(name: Any) -> bool:
    return (
        isinstance(name, str)
        and name not in ("", ".", "..")
        and os.path.basename(name) == name
        and "/" not in name
        and "\\" not in name
        and "\x00" not in name
    )


def parse_manifest(d: Any, source: str, default_file: str) -> TensorManifest:
    """Check the manifest's structure; errors name `source` (the JSON file) and the item.
    A manifest without a 'file' field names `default_file` (the fixed name older saves used)."""
    if not isinstance(d, dict):
        raise ModelFormatError(f"{source}: the tensor manifest must be an object")
    file = d.get("file", default_file)
    if not _plain_file_name(file):
        raise ModelFormatError(f"{source}: field 'file' must be a file name in the same directory, got {file!r}")
    tensors = d.get("tensors")
    if not isinstance(tensors, list):
        raise ModelFormatError(f"{source}: field 'tensors' must be a list")
    entries: dict[str, TensorEntry] = {}
    for i, t in enumerate(tensors):
        entry = _parse_entry(t, f"{source}: tensors[{i}]")
        if entry.name in entries:
            raise ModelFormatError(f"{source}: tensor {entry.name!r} is listed twice")
        entries[entry.name] = entry
    sha = d.get("sha256")
    if sha is not None and not isinstance(sha, str):
        raise ModelFormatError(f"{source}: field 'sha256' must be a string")
    uninit = d.get("uninitialized", [])
    if not isinstance(uninit, list) or not all(isinstance(n, str) for n in uninit):
        raise ModelFormatError(f"{source}: field 'uninitialized' must be a list of names")
    return TensorManifest(entries, sha, set(uninit), file)


def _parse_entry(t: Any, where: str) -> TensorEntry:
    if not isinstance(t, dict):
        raise ModelFormatError(f"{where}: must be an object")
    name, dtype, shape = t.get("name"), t.get("dtype"), t.get("shape")
    key = t.get("key", name)
    if not isinstance(name, str) or not name:
        raise ModelFormatError(f"{where}: 'name' must be a non-empty string")
    if not isinstance(key, str) or not key:
        raise ModelFormatError(f"{where} ({name!r}): 'key' must be a non-empty string")
    if dtype not in DTYPES:
        raise ModelFormatError(f"{where} ({name!r}): unsupported dtype {dtype!r}")
    if not isinstance(shape, list) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape):
        raise ModelFormatError(f"{where} ({name!r}): 'shape' must be a list of non-negative ints")
    return TensorEntry(name, key, dtype, tuple(shape))


def _shape_matches(declared: tuple[int, ...], actual: tuple[int, ...]) -> bool:
    return len(declared) == len(actual) and all(d < 0 or d == a for d, a in zip(declared, actual))


def unprovided(manifest: TensorManifest, expected: Iterable[Variable]) -> list[str]:
    """The expected variables the saver recorded as having no value (so the archive lacks them)."""
    return [v.name for v in expected if v.name not in manifest.entries and v.name in manifest.uninitialized]


def load_tensors(
    dirname: str, manifest: TensorManifest, expected: Iterable[Variable], manifest_path: str
) -> dict[str, np.ndarray]:
    """The arrays for every `expected` variable, from the archive the manifest names in
    `dirname`, checked against the manifest and the variable's declared shape and dtype.

    A variable the saver recorded as uninitialized is skipped (callers decide, with
    `unprovided`, whether that is acceptable); any other expected variable absent from the
    manifest is an error listing all of them. Tensors the program does not declare are
    ignored (a training checkpoint can be loaded into its test program).
    """
    expected = list(expected)
    path = os.path.join(dirname, manifest.file)
    missing = [v.name for v in expected if v.name not in manifest.entries and v.name not in manifest.uninitialized]
    if missing:
        raise ModelFormatError(_missing_message(path, missing, manifest))
    raw = read_bytes(path, "tensor file")
    if manifest.sha256 is not None and sha256_of(raw) != manifest.sha256:
        raise ModelFormatError(
            f"{path}: contents do not match the checksum recorded in {manifest_path}; the file was "
            f"truncated or modified, or the two files come from different saves"
        )
    out: dict[str, np.ndarray] = {}
    with open_npz(path, raw) as archive:
        for v in expected:
            entry = manifest.entries.get(v.name)
            if entry is None:
                continue  # recorded as uninitialized when saved
            out[v.name] = read_member(path, archive, entry.key, v.name, _checker(path, manifest_path, entry, v))
    return out


def _checker(
    path: str, manifest_path: str, entry: TensorEntry, v: Variable
) -> Callable[[np.dtype, tuple[int, ...]], None]:
    """Checks a member's header against its manifest entry, then against the program."""

    def check(dtype: np.dtype, shape: tuple[int, ...]) -> None:
        got = f"{dtype.name}{shape_text(shape)}"
        if dtype.name != entry.dtype or shape != entry.shape:
            listed = f"{entry.dtype}{shape_text(entry.shape)}"
            raise ModelFormatError(f"{path}: tensor {v.name!r} is {got} but {manifest_path} says {listed}")
        if dtype.name != v.dtype or not _shape_matches(tuple(v.shape), shape):
            raise ModelFormatError(
                f"{path}: tensor {v.name!r} is {got} but the program declares {v.dtype}{shape_text(v.shape)}"
            )

    return check


def _missing_message(path: str, missing: list[str], manifest: TensorManifest) -> str:
    saved = sorted(manifest.entries)
    hints = []
    for name in missing:
        close = difflib.get_close_matches(name, saved, n=1)
        hints.append(f"{name!r} (closest saved: {close[0]!r})" if close else repr(name))
    shown = ", ".join(hints[:10]) + (f", ... ({len(hints)} in all)" if len(hints) > 10 else "")
    return f"{path}: missing tensor(s) the program expects: {shown}; the file holds {len(saved)} tensor(s)"
