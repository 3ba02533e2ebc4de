"""A tiny headless-Chromium driver for the HTML viewer tests: the DevTools protocol over
`--remote-debugging-pipe` (fd 3 carries commands to the browser, fd 4 its answers, each
message JSON ended by a NUL byte), so no Python package and no network port is needed.

    with Browser(chromium_path, tmp_path) as b:
        b.open(page.as_uri())
        b.click(x, y)
        b.eval("document.title")
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import subprocess
import time
from pathlib import Path
from typing import Any

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
)


class BrowserError(RuntimeError):
    pass


class Browser:
    def __init__(self, chromium: str, workdir: Path, width: int = 1400, height: int = 1000, timeout: float = 60.0):
        self.timeout = timeout
        self.errors: list[str] = []  # console errors and uncaught exceptions of the page
        profile = Path(workdir) / f"chromium-profile-{os.getpid()}-{time.monotonic_ns()}"
        profile.mkdir(parents=True)
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        # The browser expects the pipe ends as fds 3 and 4; move them clear of 3/4 first so
        # the dup2 calls in the child cannot clobber each other.
        src_r = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
        src_w = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
        os.close(to_browser_r)
        os.close(from_browser_w)

        def child_fds() -> None:
            os.dup2(src_r, 3)
            os.dup2(src_w, 4)

        cmd = [chromium, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"]
        self._log = profile / "stderr.log"  # a file, not a pipe: a chatty browser never blocks on it
        with open(self._log, "wb") as log:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                preexec_fn=child_fds,  # noqa: PLW1509 -- single-threaded test process
                close_fds=False,
            )
        os.close(src_r)
        os.close(src_w)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []
        self.session: str | None = None
        targets = self.send("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.send("Target.attachToTarget", targetId=page["targetId"], flatten=True, session=False)[
            "sessionId"
        ]
        self.send("Page.enable")
        self.send("Runtime.enable")

    # --- protocol --------------------------------------------------------------------------
    def send(self, method: str, session: bool = True, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session and self.session is not None:
            msg["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._event(reply)

    def _read(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise BrowserError(f"no answer from Chromium within {self.timeout} s")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise BrowserError("Chromium closed the pipe: " + self._stderr())
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def _event(self, msg: dict[str, Any]) -> None:
        self._events.append(msg)
        method, params = msg.get("method"), msg.get("params", {})
        if method == "Runtime.exceptionThrown":
            self.errors.append(json.dumps(params.get("exceptionDetails", {}))[:500])
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning", "assert"):
            self.errors.append(" ".join(str(a.get("value", a.get("description"))) for a in params.get("args", [])))

    def wait_event(self, method: str) -> dict[str, Any]:
        for i, msg in enumerate(self._events):
            if msg.get("method") == method:
                return self._events.pop(i)
        while True:
            msg = self._read()
            self._event(msg)
            if msg.get("method") == method:
                self._events.remove(msg)
                return msg

    # --- what the tests use ---------------------------------------------------------------
    def open(self, url: str) -> None:
        self._events.clear()
        self.send("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")

    def eval(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression!r} raised: {json.dumps(result['exceptionDetails'])[:800]}")
        return result["result"].get("value")

    def click(self, x: float, y: float) -> None:
        """A real left click (press and release) at viewport coordinates."""
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            extra = {"button": "left", "clickCount": 1} if kind != "mouseMoved" else {}
            self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, **extra)

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", format="png")["data"]
        Path(path).write_bytes(base64.b64decode(data))
        return Path(path)

    def _stderr(self) -> str:
        return self._log.read_bytes().decode("utf-8", "replace")[-2000:]

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self.send("Browser.close", session=False)
        except (BrowserError, OSError):
            pass
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
