"""Saves with one commit point: a load sees the previous save or the new one, whole.

A model or checkpoint directory holds a small JSON manifest (`model.json`,
`persistables.json`) and the tensor archive it names, stored under a content-addressed
name: `<stem>.<first 16 hex digits of its sha256>.npz`, such as `model.3f09c2d1a4b5e6f7.npz`.
`save_committed` writes them in this order:

1. lock the directory (`flock`, where the platform has it), so saves into one directory
   take turns, and delete the temporaries that interrupted saves left behind;
2. write the archive to a temporary file, fsync it, rename it to its content-addressed
   name and fsync the directory (the old manifest does not name it, so nothing sees it);
3. write the new manifest to a temporary file, fsync it, and `os.replace` it over the old
   manifest: **the commit**, one atomic rename;
4. fsync the directory, then delete the archives no manifest names any more (the one the
   old manifest named, and archives of saves killed between steps 2 and 3).

Before the rename of step 3 the old manifest names the old archive, which the save never
touches; after it, the new manifest names an archive that is complete and on disk. So
whatever moment a save dies at (SIGKILL, Ctrl-C, a full disk, a crash after the fsyncs),
the directory holds one whole model. `tests/test_save_atomicity.py` interrupts a save at
every file-system call to check exactly that.

Readers take no lock: a reader that read the old manifest just before step 4 deleted the
old archive finds the archive gone, and `load_committed` runs the load again when the
manifest was replaced in the meantime.

Single files (`save_program`) are written to a temporary and renamed into place.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any, TypeVar

try:  # POSIX; elsewhere saves into one directory are not serialised
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from minigraph.io.files import ModelFileNotFoundError, read_json

Writer = Callable[[IO[bytes]], None]
T = TypeVar("T")

_TMP_SUFFIX = ".tmp"
# tempfile's random part: 8 characters of [a-z0-9_]. Leftover temporaries are recognised
# by prefix, random part and suffix, so files of other saves in the directory are left alone.
_RANDOM = r"[a-z0-9_]{8}"
_LOAD_ATTEMPTS = 5


def _current_umask() -> int:
    # os.umask can only be read by setting it; done once, at import, before any thread runs.
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_current_umask()


def manifest_stem(manifest_name: str) -> str:
    return manifest_name[: -len(".json")] if manifest_name.endswith(".json") else manifest_name


def archive_name(stem: str, sha256: str) -> str:
    """The content-addressed name of a tensor archive: `<stem>.<16 hex digits>.npz`."""
    return f"{stem}.{sha256[:16]}.npz"


def save_committed(
    dirname: str,
    manifest_name: str,
    write_archive: Writer,
    write_manifest: Callable[[IO[bytes], str, str], None],
    archive_of: Callable[[Any], str | None],
    legacy_archive: str | None = None,
) -> str:
    """Save an archive and the manifest naming it with one commit point (module docstring).

    `write_archive(f)` writes the archive; `write_manifest(f, archive_name, sha256)` writes
    the manifest that names it; `archive_of(doc)` reads the archive name out of an existing
    manifest (None if it names none), so the archive it supersedes can be deleted after the
    commit. `legacy_archive` is the fixed archive name older saves used (`params.npz`):
    their leftover temporaries are cleaned too. Returns the new archive's file name.
    """
    stem = manifest_stem(manifest_name)
    manifest_path = os.path.join(dirname, manifest_name)
    os.makedirs(dirname, exist_ok=True)
    with _locked(dirname):
        _remove_temporaries(dirname, [f"{stem}.npz", manifest_name] + ([legacy_archive] if legacy_archive else []))
        previous = _named_archive(manifest_path, archive_of)
        tmp: str | None = _write_temp(dirname, f".{stem}.npz.", write_archive)
        final: str | None = None
        existed = True
        try:
            sha = _sha256_file(tmp)
            name = archive_name(stem, sha)
            final = os.path.join(dirname, name)
            existed = os.path.exists(final)
            os.replace(tmp, final)
            tmp = None
            _fsync_dir(dirname)
            manifest_tmp = _write_temp(dirname, f".{manifest_name}.", lambda f: write_manifest(f, name, sha))
            try:
                os.replace(manifest_tmp, manifest_path)  # the commit
            except BaseException:
                _unlink_quietly(manifest_tmp)
                raise
        except BaseException:
            if tmp is not None:
                _unlink_quietly(tmp)
            # The new archive goes too, unless it was there before (same content as an
            # earlier save) or the manifest on disk names it (the commit happened after all).
            if (
                final is not None
                and not existed
                and _named_archive(manifest_path, archive_of) != os.path.basename(final)
            ):
                _unlink_quietly(final)
            raise
        _fsync_dir(dirname)
        superseded = _archives(dirname, stem) - {name}
        if previous is not None and previous != name and previous == legacy_archive:
            superseded.add(previous)
        for old in sorted(superseded):
            _unlink_quietly(os.path.join(dirname, old))  # committed already: a failure here costs disk only
    return name


def write_file(path: str, writer: Writer) -> None:
    """Write one file atomically: a temporary file in the same directory, then os.replace."""
    dirname, name = os.path.split(os.path.abspath(path))
    os.makedirs(dirname, exist_ok=True)
    with _locked(dirname):
        _remove_temporaries(dirname, [name])
        tmp = _write_temp(dirname, f".{name}.", writer)
        try:
            os.replace(tmp, path)
        except BaseException:
            _unlink_quietly(tmp)
            raise
        _fsync_dir(dirname)


def load_committed(manifest_path: str, load: Callable[[], T]) -> T:
    """`load()`, run again when a file it needs vanished because a concurrent save committed
    (the manifest was replaced meanwhile) rather than because the directory is incomplete."""
    for _ in range(_LOAD_ATTEMPTS - 1):
        before = _identity(manifest_path)
        try:
            return load()
        except ModelFileNotFoundError:
            if before is None or _identity(manifest_path) == before:
                raise
    return load()


# --- helpers -------------------------------------------------------------------------------
@contextmanager
def _locked(dirname: str) -> Iterator[None]:
    """Hold an exclusive lock on the directory (released when the process dies, too)."""
    if fcntl is None:
        yield
        return
    try:
        fd = os.open(dirname, os.O_RDONLY)
    except OSError:
        yield  # a platform or filesystem without directory handles: no lock
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            pass  # a filesystem without flock (some network mounts): no lock
        yield
    finally:
        os.close(fd)


def _write_temp(dirname: str, prefix: str, writer: Writer) -> str:
    """A new temporary file in `dirname` holding what `writer` wrote, flushed and fsynced."""
    fd, tmp = tempfile.mkstemp(dir=dirname, prefix=prefix, suffix=_TMP_SUFFIX)
    try:
        with os.fdopen(fd, "w+b") as f:  # readable too: writers may read back what they wrote
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _FILE_MODE)  # mkstemp makes 0600 files; give the usual permissions
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return tmp


def _sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _named_archive(manifest_path: str, archive_of: Callable[[Any], str | None]) -> str | None:
    """The archive an existing manifest names; None when there is no readable manifest."""
    if not os.path.isfile(manifest_path):
        return None
    try:
        return archive_of(read_json(manifest_path, "manifest"))
    except Exception:  # noqa: BLE001 -- a damaged manifest names nothing we could keep
        return None


def _archives(dirname: str, stem: str) -> set[str]:
    pattern = re.compile(rf"{re.escape(stem)}\.[0-9a-f]{{16}}\.npz")
    return {n for n in os.listdir(dirname) if pattern.fullmatch(n)}


def _remove_temporaries(dirname: str, names: list[str]) -> None:
    """Delete the temporaries killed saves of `names` left (callers hold the directory lock)."""
    pattern = re.compile("|".join(rf"\.{re.escape(n)}\.{_RANDOM}{re.escape(_TMP_SUFFIX)}" for n in names))
    for n in os.listdir(dirname):
        if pattern.fullmatch(n):
            _unlink_quietly(os.path.join(dirname, n))


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass  # already gone, or not ours to delete: the next save tries again


def _identity(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _fsync_dir(dirname: str) -> None:
    """Make the renames durable (POSIX); platforms that cannot open a directory skip it."""
    try:
        fd = os.open(dirname, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
