"""Function steps forked from a warm interpreter, for `--same-env` agents.

A function step runs `python -m ductwork.sdk.runner`; a fresh interpreter pays ~25 ms to start
and ~40-90 ms to import the runner, on every step. With `--same-env` the agent keeps one warm
`python -m ductwork.process.forkserver` (the SDK's local-mode fork server: it imported the runner
once, and forks a clean child per request, each in its own session). The agent hands it the
child's environment, folder and the write ends of its stdout/stderr pipes; the child's pid
comes back at once and its exit code when it ends. Supervision is the same as for any task
process: the agent reads the pipes, kills the child's process group on abort or time limit.

Anything unusual (no AF_UNIX, the server failed to start or died) falls back to a fresh
interpreter, so the warm path is only ever an optimisation.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ductwork.agent.process import TERM_GRACE_S, ConsoleStream, pump

RUNNER = "ductwork.sdk.runner"


class ForkedProcess:
    """A task process forked by the warm server; the same face as `TaskProcess`."""

    def __init__(self, conn: socket.socket, pid: int, out: int, err: int, console: ConsoleStream) -> None:
        self._conn = conn
        self.pid = pid
        self.started = time.monotonic()
        self._code: int | None = None
        self._buffer = b""
        self._readers = [
            threading.Thread(target=pump, args=(os.fdopen(out, "rb"), "stdout", console), daemon=True),
            threading.Thread(target=pump, args=(os.fdopen(err, "rb"), "stderr", console), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def poll(self, timeout: float) -> int | None:
        """The exit code, waiting at most `timeout` seconds; None while it runs."""
        if self._code is not None:
            return self._code
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self._conn, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    return None
                chunk = self._conn.recv(4096)
                if not chunk:  # the server died: the child went with it
                    self._code = -signal.SIGKILL
                    self._conn.close()
                    return self._code
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        self._code = int(json.loads(line)["exit"])
        self._conn.close()
        return self._code

    def kill_tree(self) -> int:
        for sig, grace in ((signal.SIGTERM, TERM_GRACE_S), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                break
            code = self.poll(grace)
            if code is not None:
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                return code
        code = self.poll(10.0)
        return -signal.SIGKILL if code is None else code

    def finish(self) -> None:
        for reader in self._readers:
            reader.join(timeout=5.0)


class WarmRunner:
    """The agent's fork server for function steps, started on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._server: subprocess.Popen[bytes] | None = None
        self._address = ""
        self._broken = not hasattr(socket, "send_fds") or not hasattr(socket, "AF_UNIX")

    @staticmethod
    def fits(script: dict[str, object], same_env: bool) -> bool:
        """A function step (the runner module) under a `--same-env` agent."""
        return same_env and script.get("module") == RUNNER and not script.get("args")

    def start(
        self, env: dict[str, str], cwd: Path, paths: list[str], console: ConsoleStream
    ) -> ForkedProcess | None:
        """Fork the step; None when the warm path is unavailable (start it fresh instead)."""
        address = self._ready()
        if not address:
            return None
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.connect(address)
            request = json.dumps({"env": env, "cwd": str(cwd), "paths": paths}).encode()
            socket.send_fds(conn, [request], [out_write, err_write])
            os.close(out_write)
            os.close(err_write)
            out_write = err_write = -1
            reply = b""
            while b"\n" not in reply:
                chunk = conn.recv(4096)
                if not chunk:
                    raise OSError("the fork server closed the connection")
                reply += chunk
            line, _, rest = reply.partition(b"\n")
            pid = int(json.loads(line)["pid"])
        except (OSError, ValueError, KeyError) as exc:
            for fd in (out_read, err_read, out_write, err_write):
                if fd >= 0:
                    os.close(fd)
            conn.close()
            console.write(f"warm start failed ({exc}); starting a fresh interpreter", "ductwork")
            self._mark_broken()
            return None
        process = ForkedProcess(conn, pid, out_read, err_read, console)
        process._buffer = rest
        return process

    def close(self) -> None:
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.terminate()
            try:
                server.wait(5)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(5)

    def _ready(self) -> str:
        with self._lock:
            if self._broken:
                return ""
            if self._server is not None and self._server.poll() is None:
                return self._address
            self._address = os.path.join(tempfile.mkdtemp(prefix="ductwork-agent-fork-"), "s")
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # children's prints stream line by line
            env.pop("DUCTWORK_PIPE", None)
            self._server = subprocess.Popen(
                [sys.executable, "-m", "ductwork.process.forkserver", self._address],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                env=env,
            )
            assert self._server.stdout is not None
            if self._server.stdout.readline().strip() != b"ready":
                self._server.kill()
                self._server.wait()
                self._server = None
                self._broken = True
                return ""
            return self._address

    def _mark_broken(self) -> None:
        with self._lock:
            self._broken = True
