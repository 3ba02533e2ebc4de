"""Atomic writes of one or several files in a directory.

Every file is first written in full to a temporary file next to its destination (same
directory, so same filesystem), flushed and fsynced. Only when every file has been written
are the temporaries renamed over their destinations with `os.replace`, which is atomic on
POSIX and Windows. A failure while writing (a full disk, an exception, Ctrl-C) removes the
temporaries and leaves whatever was there before untouched.

The renames themselves are one syscall each and are done in the given order, so callers
put the file that "commits" the save (the manifest that points at the others) last; the
manifests also record a checksum of the tensor file, so the one remaining window (a crash
between two renames) is detected on load instead of silently mixing two saves.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import IO

Writer = Callable[[IO[bytes]], None]

_TMP_SUFFIX = ".tmp"


def _current_umask() -> int:
    # os.umask can only be read by setting it; done once, at import, before any thread runs.
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_current_umask()


def write_files(dirname: str, writers: list[tuple[str, Writer]]) -> None:
    """Write each `(file name, writer)` into `dirname` all-or-nothing (see module docstring).

    `writer(f)` receives a binary file object opened for writing (and reading back). Names
    are plain file names inside `dirname` (created if missing); they are renamed into place
    in list order.
    """
    os.makedirs(dirname, exist_ok=True)
    temps: list[tuple[str, str]] = []  # (temporary path, final path)
    try:
        for name, writer in writers:
            if os.path.basename(name) != name or name in ("", ".", ".."):
                raise ValueError(f"expected a plain file name inside {dirname!r}, got {name!r}")
            fd, tmp = tempfile.mkstemp(dir=dirname, prefix=f".{name}.", suffix=_TMP_SUFFIX)
            temps.append((tmp, os.path.join(dirname, name)))
            with os.fdopen(fd, "w+b") as f:  # readable too: writers may checksum what they wrote
                writer(f)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, _FILE_MODE)  # mkstemp makes 0600 files; give the usual permissions
        for tmp, final in temps:
            os.replace(tmp, final)
    except BaseException:
        for tmp, _ in temps:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass  # already renamed into place, or never fully created
        raise
    _fsync_dir(dirname)


def write_file(path: str, writer: Writer) -> None:
    """Write one file atomically: a temporary file in the same directory, then os.replace."""
    dirname, name = os.path.split(os.path.abspath(path))
    write_files(dirname, [(name, writer)])


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
