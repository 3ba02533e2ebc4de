"""Reading saved files as data only: JSON documents and `.npz` tensor archives.

Nothing here can run code: JSON is parsed by `json`, and arrays are read with
`np.load(..., allow_pickle=False)`, which refuses pickled payloads and object arrays. Every
failure becomes a ModelFormatError naming the file (and the item, where there is one).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import zipfile
from collections.abc import Callable
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
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:  # deleted since the check: a concurrent save superseded it
        raise ModelFileNotFoundError(f"{path}: no such {what} (it was deleted while being opened)") from None


# Bounds on what a data file may hold, checked before or while parsing: nesting beyond this
# depth would exhaust the parser's (or our code's) recursion, and longer numbers are not
# numbers minigraph ever writes (ints fit int64/uint64; floats round-trip in 17 digits).
MAX_JSON_DEPTH = 64
MAX_INT_DIGITS = 20
MAX_NUMBER_CHARS = 64
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


class _Refused(ValueError):
    """Raised from inside json's number hooks; read_json turns it into a ModelFormatError."""


def _parse_int(token: str) -> int:
    if len(token.lstrip("-")) > MAX_INT_DIGITS:
        raise _Refused(
            f"an integer of {len(token.lstrip('-'))} digits ({token[:12]}...); the limit is {MAX_INT_DIGITS}"
        )
    return int(token)


def _parse_float(token: str) -> float:
    if len(token) > MAX_NUMBER_CHARS:
        raise _Refused(f"a number written with {len(token)} characters ({token[:12]}...)")
    return float(token)


def json_depth(text: str) -> int:
    """The deepest nesting of [ and { in JSON text (brackets inside strings do not count),
    computed without recursion, so it can be checked before the recursive parser runs."""
    brackets = np.frombuffer(_JSON_STRING.sub("", text).encode("utf-8", "replace"), np.uint8)
    steps = np.zeros(brackets.shape, np.int64)
    steps[(brackets == ord("[")) | (brackets == ord("{"))] = 1
    steps[(brackets == ord("]")) | (brackets == ord("}"))] = -1
    return int(np.cumsum(steps).max(initial=0))


def parse_json(text: str, path: str, what: str) -> Any:
    """Parse JSON text as data, within the bounds above; any failure is a ModelFormatError
    naming `path` (JSON's NaN and Infinity are accepted: float attributes may hold them)."""
    depth = json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise ModelFormatError(
            f"{path}: not a valid JSON {what} (nested {depth} levels deep; the limit is {MAX_JSON_DEPTH})"
        )
    try:
        return json.loads(text, parse_int=_parse_int, parse_float=_parse_float)
    except json.JSONDecodeError as e:
        raise ModelFormatError(f"{path}: not a valid JSON {what} (line {e.lineno} column {e.colno}: {e.msg})") from None
    except _Refused as e:
        raise ModelFormatError(f"{path}: not a valid JSON {what}: it holds {e}") from None
    except RecursionError:  # the depth check makes this unreachable unless the stack was already deep
        raise ModelFormatError(f"{path}: not a valid JSON {what} (nested too deeply)") from None


def read_json(path: str, what: str) -> Any:
    """Parse a JSON file; anything else (a pickle, a truncated file, binary junk) is refused."""
    raw = read_bytes(path, what)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ModelFormatError(f"{path}: not a JSON {what} (not UTF-8 text: {e.reason} at byte {e.start})") from None
    return parse_json(text, path, what)


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


def read_member(
    path: str, archive: Any, key: str, name: str, check: Callable[[np.dtype, tuple[int, ...]], None]
) -> np.ndarray:
    """Read one array of an open archive. Its `.npy` header is read first and given to
    `check(dtype, shape)` (which raises on a disagreement with the manifest), and the
    member's stored size must be exactly what that header implies, all before any data is
    decompressed: a small archive cannot claim [8, 3] and inflate to gigabytes. Pickled
    object arrays and damaged members are refused."""
    member = f"{key}.npy"
    if key not in archive.files:
        raise ModelFormatError(f"{path}: tensor {name!r} is listed in the manifest but missing from the archive")
    zf = archive.zip
    try:
        info = zf.getinfo(member)
        with zf.open(info) as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ModelFormatError(f"{path}: cannot read tensor {name!r}: unsupported .npy version {version}")
            header_size = f.tell()
    except ModelFormatError:
        raise
    except Exception as e:  # zipfile/zlib/numpy raise a zoo of types for damaged members
        raise ModelFormatError(f"{path}: cannot read tensor {name!r}: {e}") from None
    if dtype.hasobject:
        raise ModelFormatError(
            f"{path}: cannot read tensor {name!r}: it holds pickled Python objects, which minigraph never loads"
        )
    check(dtype, tuple(shape))
    expected = header_size + math.prod(shape) * dtype.itemsize
    if info.file_size != expected:
        raise ModelFormatError(
            f"{path}: cannot read tensor {name!r}: the member holds {info.file_size} bytes, but its header "
            f"({dtype.name}{list(shape)}) implies {expected}"
        )
    try:
        with zf.open(info) as f:
            arr = np.lib.format.read_array(f, allow_pickle=False)
    except Exception as e:  # truncated or corrupt data, a bad CRC
        raise ModelFormatError(f"{path}: cannot read tensor {name!r}: {e}") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.hasobject:
        raise ModelFormatError(f"{path}: tensor {name!r} is not a numeric array")
    return arr
