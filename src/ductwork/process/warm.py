"""Children forked from a warm interpreter: a fork server started once, a fresh child per use.

Starting an interpreter and importing what a child needs can cost far more than the child's own
work (~25 ms to start Python, ~40-90 ms to import a step runner); forking a process that did it
already costs ~2 ms. `WarmPool` starts `python -m ductwork.process.forkserver` once (a clean
interpreter: no threads, no connections), which imports `preload` and then forks one child per
`fork()`, each running `module` as `__main__` as `python -m module` would, or what `fork(argv=)`
names (`-m other args` or `script.py args`: a script task). The child's stdout and stderr
pipes are handed over on the request (SCM_RIGHTS); its pid comes back at once, its exit code
when it ends (the server is its parent and reaps it). `python=` picks the interpreter (a venv's).

Anything unusual (no AF_UNIX or fd passing, the server failed to start) makes `fork()` answer
None from then on, so the warm path is only ever an optimisation.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from typing import IO

SERVER = "ductwork.process.forkserver"
# Exit code of a forked child whose server died before reporting it (it died with the server).
LOST = -signal.SIGKILL


class Forked:
    """A child forked by the warm server: the same face as a spawned one (`Child`).

    Its exit code comes on the request's connection; whichever thread polls reads it (no
    thread of its own: a tiny task's run paid ~0.1 ms of CPU for one)."""

    def __init__(self, conn: socket.socket, pid: int, out: int, err: int, replies: bytes) -> None:
        self.pid = pid
        self.started = time.monotonic()
        self.stdout: IO[bytes] = open(out, "rb")  # noqa: SIM115 (closed by whoever pumps it)
        self.stderr: IO[bytes] = open(err, "rb")  # noqa: SIM115
        self._conn: socket.socket | None = conn
        self._replies = replies
        self._code = LOST
        self._ended = False
        self._reading = threading.Lock()  # one reader of the reply at a time

    def poll(self, timeout: float) -> int | None:
        if self._ended:
            return self._code
        deadline = time.monotonic() + max(timeout, 0.0)
        if not self._reading.acquire(timeout=max(timeout, 0.0)):
            return None  # another thread is reading the reply and has not seen the end yet
        try:
            while not self._ended and self._read_some(deadline):
                pass
        finally:
            self._reading.release()
        return self._code if self._ended else None

    def wait(self) -> int:
        while True:
            code = self.poll(3600.0)
            if code is not None:
                return code

    def _read_some(self, deadline: float) -> bool:
        """Read the server's reply until `deadline`; False once that passed without the end."""
        conn = self._conn
        if conn is None or b"\n" in self._replies:
            self._end()
            return True
        try:
            conn.settimeout(max(deadline - time.monotonic(), 0.0))
            chunk = conn.recv(4096)
        except (TimeoutError, BlockingIOError, InterruptedError):
            return False
        except OSError:
            chunk = b""  # the server died: its children were killed with it (LOST)
        if not chunk:
            self._replies += b"\n"  # no end will come
        self._replies += chunk
        return True

    def _end(self) -> None:
        try:
            self._code = int(json.loads(self._replies.partition(b"\n")[0])["exit"])
        except (ValueError, KeyError, TypeError):
            self._code = LOST  # the server died: its children were killed with it
        self._ended = True
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class WarmPool:
    """A fork server for children that run `module`, started on first use (or `start()`)."""

    def __init__(
        self,
        module: str,
        preload: Sequence[str] = (),
        *,
        env: dict[str, str] | None = None,
        python: str = sys.executable,
    ) -> None:
        self.module = module
        self.python = python  # the interpreter the server (and so every child) is
        self._preload = list(preload)
        self._env = env  # the server's environment (None: ours); each child gets its own
        self._lock = threading.Lock()
        self._server: subprocess.Popen[bytes] | None = None
        self._address = ""
        self._ready = False
        self._broken = not supported()

    def start(self) -> None:
        """Start the server now, so its imports overlap with the caller's own work."""
        with self._lock:
            self._launch()

    def fork(
        self,
        env: dict[str, str],
        cwd: str | None,
        paths: Sequence[str],
        argv: Sequence[str] | None = None,
    ) -> Forked | None:
        """A child running `module` (or `argv`, the words after the interpreter) with `env` (all
        of it), in `cwd`, `paths` first on its sys.path; None when the warm path is unavailable
        (start the child fresh instead)."""
        address = self._ready_address()
        if not address:
            return None
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            try:
                conn.connect(address)
                request: dict[str, object] = {"env": env, "cwd": cwd, "paths": list(paths)}
                if argv:
                    request["argv"] = list(argv)
                socket.send_fds(conn, [json.dumps(request).encode()], [out_write, err_write])
            finally:
                os.close(out_write)
                os.close(err_write)
            line, _, rest = _read_line(conn).partition(b"\n")
            pid = int(json.loads(line)["pid"])
        except (OSError, ValueError, KeyError):
            for fd in (out_read, err_read):
                os.close(fd)
            conn.close()
            self._mark_broken()
            return None
        return Forked(conn, pid, out_read, err_read, rest)

    def preload(self, modules: Sequence[str]) -> list[str]:
        """Have the server import these (installed packages the coming children use) before it
        forks them; answers those it could import."""
        address = self._ready_address()
        if not address or not modules:
            return []
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.connect(address)
                socket.send_fds(conn, [json.dumps({"preload": list(modules)}).encode()], [])
                loaded: list[str] = json.loads(_read_line(conn))["loaded"]
                return loaded
        except (OSError, ValueError, KeyError):
            return []

    def close(self) -> None:
        """Stop the server; children it forked die with it."""
        with self._lock:
            server, self._server = self._server, None
            self._broken = True
            folder = os.path.dirname(self._address)
        if server is not None:
            server.terminate()
            try:
                server.wait(5)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(5)
        if folder:
            shutil.rmtree(folder, ignore_errors=True)

    def _ready_address(self) -> str:
        """The server's address once it has imported what children need ("" when broken); a
        server that died since is started again."""
        with self._lock:
            if self._server is not None and self._server.poll() is not None:
                self._server = None
            self._launch()
            if self._server is None:
                return ""
            if not self._ready:
                line = self._server.stdout.readline() if self._server.stdout else b""
                if line.strip() != b"ready":
                    self._server.kill()
                    self._server.wait()
                    self._server, self._broken = None, True
                    return ""
                self._ready = True
            return self._address

    def _launch(self) -> None:
        """Start the server unless it runs or the pool is broken (holding the lock)."""
        if self._broken or self._server is not None:
            return
        self._address = os.path.join(tempfile.mkdtemp(prefix="ductwork-fork-"), "s")
        self._ready = False
        try:
            argv = [self.python, "-m", SERVER, self._address, self.module, *self._preload]
            self._server = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                env=self._env,
            )
        except OSError:
            self._broken = True

    def _mark_broken(self) -> None:
        with self._lock:
            self._broken = True


def supported() -> bool:
    """Can this platform fork children and pass them their pipes?"""
    return hasattr(os, "fork") and hasattr(socket, "AF_UNIX") and hasattr(socket, "send_fds")


def _read_line(conn: socket.socket) -> bytes:
    """Bytes from `conn` up to and including a newline (or to its end)."""
    data = b""
    while b"\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data
