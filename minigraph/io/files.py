"""Reading saved files as data only: JSON documents and `.npz` tensor archives.

Nothing here can run code: JSON is parsed by `json`, and arrays are read with
`np.load(..., allow_pickle=False)`, which refuses pickled payloads and object arrays. Every
failure becomes a ModelFormatError naming the file (and the item, where there is one).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from typing import IO, Any

import numpy as np

from minigraph.errors import ModelFormatError


class ModelFileNotFoundError(ModelFormatError, FileNotFoundError):
    """A file a saved model or checkpoint needs does not exist."""


def require_file(path: str, what: str) -> None:
    """Raise ModelFileNotFoundError for a missing file, listing what the directory holds."""
    if os.path.isfile(path):
        return
    dirname = os.path.dirname(path) or "."
    if not os.path.isdir(dirname):
        raise ModelFileNotFoundError(f"{path}: no such {what} (directory {dirname!r} does not exist)")
    found = sorted(n for n in os.listdir(dirname) if not n.startswith("."))
    raise ModelFileNotFoundError(f"{path}: no such {what}; the directory holds {found or 'no files'}")


def read_bytes(path: str, what: str) -> bytes:
    require_file(path, what)
    with open(path, "rb") as f:
        return f.read()


def read_json(path: str, what: str) -> Any:
    """Parse a JSON file; anything else (a pickle, a truncated file, binary junk) is refused."""
    raw = read_bytes(path, what)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ModelFormatError(f"{path}: not a JSON {what} (not UTF-8 text: {e.reason} at byte {e.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ModelFormatError(f"{path}: not a valid JSON {what} (line {e.lineno} column {e.colno}: {e.msg})") from None


def dump_json(obj: Any, f: IO[bytes]) -> None:
    """Write `obj` as UTF-8 JSON into a binary file (json.dump does the encoding work)."""
    text = io.TextIOWrapper(f, encoding="utf-8", newline="\n")
    json.dump(obj, text, allow_nan=True)  # one line: these are data files
    text.write("\n")
    text.flush()
    text.detach()  # leave `f` open for the caller


def check_header(doc: Any, path: str, fmt: str, version: int) -> None:
    """Refuse a JSON document of another kind or of a format version this code does not know."""
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise ModelFormatError(f"{path}: not a {fmt} file (format {found!r})")
    if doc.get("version") != version:
        raise ModelFormatError(
            f"{path}: unsupported {fmt} format version {doc.get('version')!r} (this minigraph reads version {version})"
        )


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def open_npz(path: str, raw: bytes) -> Any:
    """Open the bytes of an `.npz` archive without unpickling anything."""
    if not raw.startswith(b"PK"):
        kind = "a pickle" if raw[:1] == b"\x80" else "a single .npy array" if raw.startswith(b"\x93NUMPY") else None
        detail = f" (it looks like {kind})" if kind else ""
        raise ModelFormatError(f"{path}: not an .npz tensor archive{detail}")
    try:
        archive = np.load(io.BytesIO(raw), allow_pickle=False)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise ModelFormatError(f"{path}: unreadable .npz archive (truncated or corrupt?): {e}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ModelFormatError(f"{path}: not an .npz tensor archive")
    return archive


def read_member(path: str, archive: Any, key: str, name: str) -> np.ndarray:
    """Read one array of an open archive; pickled object arrays and damaged members are refused."""
    if key not in archive.files:
        raise ModelFormatError(f"{path}: tensor {name!r} is listed in the manifest but missing from the archive")
    try:
        arr = archive[key]
    except Exception as e:  # zipfile/zlib/numpy raise a zoo of types for damaged members
        reason = str(e)
        if "allow_pickle" in reason or "Object arrays" in reason:
            reason = "it holds pickled Python objects, which minigraph never loads"
        raise ModelFormatError(f"{path}: cannot read tensor {name!r}: {reason}") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.hasobject:
        raise ModelFormatError(f"{path}: tensor {name!r} is not a numeric array")
    return arr
