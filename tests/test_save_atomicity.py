"""Saves have one commit point: whatever moment a save dies at, the directory loads as the
complete previous model or the complete new one, and the next save cleans up after it.

Every tensor of version `v` of a model holds the value `v`, so "whole" is checkable: a load
must give one version for every tensor. Two tests:

* fault injection: the save's file-system calls (mkstemp, each write, fsync, chmod,
  replace, unlink, ...) are counted in a dry run, then the save is interrupted before each
  one in turn: by `os._exit` in a forked child (a kill), or by an OSError or
  KeyboardInterrupt raised in-process (a full disk, Ctrl-C);
* a SIGKILL loop: a child saves a checkpoint and an inference model over and over and is
  killed at random moments; 20 kills by default, 200 with `-m slow`.
"""

from __future__ import annotations

import json
import os
import random
import select
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import minigraph as mg
from minigraph import io as mgio

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="kills a forked child (POSIX only)")

INTERRUPTED, COMPLETED, CRASHED = 86, 0, 1


class Net:
    def __init__(self) -> None:
        self.main, self.startup = mg.Program(), mg.Program()
        with mg.program_guard(self.main, self.startup):
            x = mg.data("x", [None, 4])
            h = mg.layers.fc(x, 8, act="relu")
            self.out = mg.layers.fc(h, 3)
            mg.optimizer.SGD(0.1).minimize(mg.layers.mean(self.out))
        self.scope = mg.Scope()
        mg.Executor().run(self.startup, scope=self.scope)
        self.names = sorted(v.name for v in self.main.list_vars() if v.persistable)

    def set_version(self, v: int) -> None:
        for n in self.names:
            a = np.asarray(self.scope.find_var(n).get_tensor())
            self.scope.var(n).set(np.full(a.shape, v, a.dtype))

    def save(self, kind: str, dirname: Path) -> None:
        if kind == "persistables":
            mgio.save_persistables(None, str(dirname), self.main, scope=self.scope)
        else:
            mgio.save_inference_model(str(dirname), ["x"], [self.out], None, self.main, scope=self.scope)


MANIFEST = {"persistables": "persistables.json", "inference": "model.json"}


def version_of(net: Net, kind: str, dirname: Path) -> int:
    """The one version every tensor of the saved model holds (AssertionError if mixed)."""
    scope = mg.Scope()
    if kind == "persistables":
        mgio.load_persistables(None, str(dirname), net.main, scope=scope)
    else:
        mgio.load_inference_model(str(dirname), None, scope=scope)
    seen = {float(v) for n in scope.local_var_names() for v in np.unique(np.asarray(scope.find_var(n).get_tensor()))}
    assert len(seen) == 1, f"{dirname}: tensors from several saves: {sorted(seen)}"
    return int(seen.pop())


def leftovers(kind: str, dirname: Path) -> list[str]:
    """Files other than the manifest and the archive it names."""
    keep = {MANIFEST[kind], _archive_named(kind, dirname)}
    return sorted(set(os.listdir(dirname)) - keep)


def _archive_named(kind: str, dirname: Path) -> str:
    doc = json.loads((dirname / MANIFEST[kind]).read_text())
    return (doc["params"] if kind == "inference" else doc)["file"]


# --- fault injection -------------------------------------------------------------------------
class Interrupter:
    """Counts file-system calls and runs `action` instead of the call numbered `at`."""

    def __init__(self, at: int = -1, action: Callable[[], None] | None = None) -> None:
        self.at, self.action, self.calls = at, action, []

    def hit(self, label: str) -> None:
        self.calls.append(label)
        if len(self.calls) - 1 == self.at and self.action is not None:
            self.action()


class CountingFile:
    """A file object whose writes go through the interrupter (np.savez, json.dump write here)."""

    def __init__(self, f: Any, hook: Interrupter) -> None:
        self._f, self._hook = f, hook

    def write(self, data: Any) -> int:
        self._hook.hit("write")
        return self._f.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)

    def __enter__(self) -> CountingFile:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._f.__exit__(*exc)


@contextmanager
def intercepted(hook: Interrupter) -> Iterator[None]:
    patched = [(os, n) for n in ("replace", "rename", "fsync", "unlink", "remove", "chmod", "open")]
    patched.append((tempfile, "mkstemp"))
    originals = {(m, n): getattr(m, n) for m, n in patched}

    def wrap(module: Any, name: str) -> Callable[..., Any]:
        real = originals[(module, name)]

        def call(*args: Any, **kwargs: Any) -> Any:
            shown = [os.path.basename(a) for a in args if isinstance(a, str)]
            hook.hit(f"{name}({', '.join(shown)})")
            return real(*args, **kwargs)

        return call

    real_fdopen = os.fdopen
    try:
        for m, n in patched:
            setattr(m, n, wrap(m, n))
        os.fdopen = lambda *a, **k: CountingFile(real_fdopen(*a, **k), hook)  # type: ignore[assignment]
        yield
    finally:
        for (m, n), real in originals.items():
            setattr(m, n, real)
        os.fdopen = real_fdopen  # type: ignore[assignment]


def _die() -> None:
    os._exit(INTERRUPTED)


def _disk_full() -> None:
    raise OSError(28, "No space left on device")


def _ctrl_c() -> None:
    raise KeyboardInterrupt


def _in_child(work: Callable[[], None]) -> int:
    """Run `work` in a forked child; its exit status (INTERRUPTED when a hook killed it)."""
    pid = os.fork()
    if pid == 0:  # the child never returns into pytest
        code = CRASHED
        try:
            work()
            code = COMPLETED
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def sampled(steps: list[str]) -> list[int]:
    """Every call except the middle of a run of writes (np.savez writes dozens in a row, all
    alike): the first and last write of each run, and every other call."""
    keep = []
    for i, c in enumerate(steps):
        inner = c == "write" and 0 < i < len(steps) - 1 and steps[i - 1] == "write" == steps[i + 1]
        if not inner:
            keep.append(i)
    return keep + [len(steps)]  # and once after the last call: the save completes


@pytest.mark.parametrize("every_call", [False, pytest.param(True, marks=pytest.mark.slow)])
@pytest.mark.parametrize("kind", ["persistables", "inference"])
def test_a_save_interrupted_at_any_file_system_call_leaves_the_old_or_the_new_model(tmp_path, kind, every_call):
    net = Net()
    template = tmp_path / "template"
    net.set_version(1)
    net.save(kind, template)
    net.set_version(2)

    dry = Interrupter()
    shutil.copytree(template, tmp_path / "dry")
    with intercepted(dry):
        net.save(kind, tmp_path / "dry")
    steps = dry.calls
    commit = next(i for i, c in enumerate(steps) if c.startswith("replace(") and c.endswith(f", {MANIFEST[kind]})"))
    assert any(c.startswith("fsync") for c in steps[:commit]) and len(steps) > commit + 1  # fsyncs, then cleanup

    modes: dict[str, Callable[[], None]] = {"kill": _die, "oserror": _disk_full, "ctrl-c": _ctrl_c}
    for at in range(len(steps) + 1) if every_call else sampled(steps):
        for mode, action in modes.items():
            expected = 1 if at <= commit else 2
            where = f"{mode} before call #{at} ({steps[at] if at < len(steps) else 'after the last call'})"
            d = tmp_path / f"{mode}_{at}"
            shutil.copytree(template, d)
            hook = Interrupter(at, action)
            if mode == "kill":

                def work(hook: Interrupter = hook, d: Path = d) -> None:
                    with intercepted(hook):
                        net.save(kind, d)

                code = _in_child(work)
                assert code == (INTERRUPTED if at < len(steps) else COMPLETED), where
            else:
                try:
                    with intercepted(hook):
                        net.save(kind, d)
                    expected = 2  # an OSError the save may shrug off (no directory lock or fsync)
                except (OSError, KeyboardInterrupt):
                    assert at < len(steps), where
                # an exception never leaves a temporary behind, before or after the commit
                assert not [n for n in os.listdir(d) if n.startswith(".")], where
            assert version_of(net, kind, d) == expected, where
            if mode == "kill":  # the next save succeeds and leaves exactly the manifest and its archive
                net.save(kind, d)
                assert leftovers(kind, d) == [], where
            shutil.rmtree(d)


# --- SIGKILL at random moments -------------------------------------------------------------
def _save_forever(net: Net, root: Path, done: int) -> None:
    """Save both kinds in a loop, writing a byte to the pipe `done` after each round."""
    v = 1
    while True:
        v += 1
        net.set_version(v)
        net.save("persistables", root / "ckpt")
        net.save("inference", root / "model")
        os.write(done, b".")


def kill_loop(root: Path, kills: int, seed: int = 0) -> dict[str, int]:
    """Kill a child saving in a loop `kills` times; after each kill both directories must
    load whole. Returns the counts the README quotes."""
    net = Net()
    net.set_version(1)
    net.save("persistables", root / "ckpt")
    net.save("inference", root / "model")
    start = time.perf_counter()
    for _ in range(3):
        net.save("persistables", root / "ckpt")
        net.save("inference", root / "model")
    period = (time.perf_counter() - start) / 3  # one round of both saves
    rng = random.Random(seed)
    unloadable, versions = 0, set()
    for _ in range(kills):
        done_r, done_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(done_r)
                _save_forever(net, root, done_w)
            finally:
                os._exit(CRASHED)
        os.close(done_w)
        # Let the child finish one round first (a loaded machine may start it late), so the
        # kills land in saves of ever newer versions; then kill at a random moment.
        select.select([done_r], [], [], 30)
        time.sleep(rng.uniform(0, 3 * period))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(done_r)  # only now: closing earlier would end the child by SIGPIPE, not at random
        for kind, d in (("persistables", root / "ckpt"), ("inference", root / "model")):
            try:
                versions.add(version_of(net, kind, d))
            except (mg.MinigraphError, AssertionError):
                unloadable += 1
    left = len(leftovers("persistables", root / "ckpt")) + len(leftovers("inference", root / "model"))
    net.set_version(10**6)
    net.save("persistables", root / "ckpt")
    net.save("inference", root / "model")
    after = len(leftovers("persistables", root / "ckpt")) + len(leftovers("inference", root / "model"))
    return {"kills": kills, "unloadable": unloadable, "versions": len(versions), "left": left, "after": after}


@pytest.mark.parametrize("kills", [20, pytest.param(200, marks=pytest.mark.slow)])
def test_sigkill_at_random_moments_never_leaves_an_unloadable_directory(tmp_path, kills):
    counts = kill_loop(tmp_path, kills)
    assert counts["unloadable"] == 0, counts
    assert counts["after"] == 0, counts  # the next successful save removed every leftover
    assert counts["versions"] > 1, counts  # the kills really landed between different saves


# --- readers during saves, and directories written before archives were content-addressed ---
def test_loads_running_during_saves_always_see_one_whole_model(tmp_path):
    import threading

    net, reader = Net(), Net()
    net.set_version(1)
    for kind in MANIFEST:
        net.save(kind, tmp_path / kind)
    stop, seen, errors = threading.Event(), set(), []

    def load_forever() -> None:
        while not stop.is_set():
            for kind in MANIFEST:
                try:
                    seen.add(version_of(reader, kind, tmp_path / kind))
                except Exception as e:  # noqa: BLE001 -- collected and reported below
                    errors.append(e)

    thread = threading.Thread(target=load_forever)
    thread.start()
    try:
        for v in range(2, 25):
            net.set_version(v)
            for kind in MANIFEST:
                net.save(kind, tmp_path / kind)
    finally:
        stop.set()
        thread.join()
    assert errors == [] and len(seen) > 1
    assert leftovers("persistables", tmp_path / "persistables") == [] == leftovers("inference", tmp_path / "inference")


@pytest.mark.parametrize("kind", ["persistables", "inference"])
@pytest.mark.parametrize("names_it", [True, False])
def test_a_directory_with_the_old_fixed_archive_name_loads_and_is_replaced_cleanly(tmp_path, kind, names_it):
    net = Net()
    net.set_version(7)
    d = tmp_path / "old"
    net.save(kind, d)
    legacy = "persistables.npz" if kind == "persistables" else "params.npz"
    doc = json.loads((d / MANIFEST[kind]).read_text())
    manifest = doc["params"] if kind == "inference" else doc
    os.rename(d / manifest["file"], d / legacy)
    if names_it:
        manifest["file"] = legacy
    else:
        del manifest["file"]  # no 'file' field: the fixed name is implied
    (d / MANIFEST[kind]).write_text(json.dumps(doc))
    (d / f".{legacy}.abcd1234.tmp").write_bytes(b"left by an interrupted save of an older version")
    assert version_of(net, kind, d) == 7
    net.set_version(8)
    net.save(kind, d)
    assert version_of(net, kind, d) == 8
    assert leftovers(kind, d) == []  # the superseded params.npz and the old temporary are gone


def test_saves_from_two_threads_into_one_directory_take_turns(tmp_path):
    """Each save deletes the archives its manifest no longer names; two interleaved saves
    would delete each other's new archive. The directory lock makes them take turns."""
    import threading

    nets = [Net(), Net()]
    for v, net in enumerate(nets, start=1):
        net.set_version(v)
    errors = []

    def save_often(net: Net) -> None:
        try:
            for _ in range(15):
                for kind in MANIFEST:
                    net.save(kind, tmp_path / kind)
        except Exception as e:  # noqa: BLE001 -- collected and reported below
            errors.append(e)

    threads = [threading.Thread(target=save_often, args=(net,)) for net in nets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for kind in MANIFEST:
        assert version_of(nets[0], kind, tmp_path / kind) in (1, 2)
        assert leftovers(kind, tmp_path / kind) == []
