"""One task process: started in its own process group, its output streamed, killed as a tree.

The child gets a new session, so killing the group takes its own children with it (a
controller's local steps, a shell's pipeline) and a Ctrl-C at the agent's terminal does
not reach it directly: the agent decides how each task ends.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from ductwork.core.records import ConsoleLine

# How long a task gets between SIGTERM and SIGKILL when it is stopped.
TERM_GRACE_S = 3.0
# Console lines are sent in batches at most this often (and when a batch is large).
FLUSH_EVERY_S = 0.2
FLUSH_LINES = 500


class ConsoleStream:
    """Collects a task's output lines and sends them in batches from one thread."""

    def __init__(self, task_id: str, send: Callable[[list[ConsoleLine]], None]) -> None:
        self.task_id = task_id
        self._send = send
        self._lines: list[ConsoleLine] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=f"console-{task_id[:8]}", daemon=True)
        self._thread.start()
        self.tail: list[str] = []  # the last lines, to explain a failure

    def write(self, text: str, stream: str = "stdout") -> None:
        with self._lock:
            self._lines.append(ConsoleLine(task_id=self.task_id, text=text, stream=stream))
            self.tail.append(text)
            del self.tail[:-20]
            if len(self._lines) >= FLUSH_LINES:
                self._wake.set()

    def close(self) -> None:
        """Send what is left and stop the sender thread (again: nothing happens)."""
        self._closed = True
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        while True:
            self._wake.wait(FLUSH_EVERY_S)
            self._wake.clear()
            with self._lock:
                batch, self._lines = self._lines, []
            if batch:
                try:
                    self._send(batch)
                except Exception as exc:  # a lost batch must not kill the task it describes
                    print(f"ductwork agent: could not send console of task {self.task_id}: {exc}")
            if self._closed and not self._lines:
                return


class TaskProcess:
    """A running task process whose stdout and stderr feed a `ConsoleStream`."""

    def __init__(
        self, argv: Sequence[str], *, cwd: Path, env: dict[str, str], console: ConsoleStream
    ) -> None:
        self.argv = list(argv)
        self._popen = subprocess.Popen(
            [*_dies_with_agent(), *self.argv],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.started = time.monotonic()
        assert self._popen.stdout is not None and self._popen.stderr is not None
        self._readers = [
            threading.Thread(target=pump, args=(self._popen.stdout, "stdout", console), daemon=True),
            threading.Thread(target=pump, args=(self._popen.stderr, "stderr", console), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @property
    def pid(self) -> int:
        return self._popen.pid

    def poll(self, timeout: float) -> int | None:
        """The exit code, waiting at most `timeout` seconds; None while it runs."""
        try:
            return self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill_tree(self) -> int:
        """SIGTERM the whole process group, SIGKILL what is left after a grace period."""
        for sig, grace in ((signal.SIGTERM, TERM_GRACE_S), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self._popen.pid, sig)
            except ProcessLookupError:
                break
            code = self.poll(grace)
            if code is not None:
                # The leader is gone; members that ignored SIGTERM still go.
                try:
                    os.killpg(self._popen.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                return code
        return self._popen.wait()

    def finish(self) -> None:
        """Wait for the output pipes to drain (after the process ended)."""
        for reader in self._readers:
            reader.join(timeout=5.0)


@functools.cache
def _dies_with_agent() -> tuple[str, ...]:
    """A prefix that makes the task process die with the agent (Linux `setpriv --pdeathsig`).

    An agent killed with SIGKILL cannot stop its task; without this the process would run on
    while the watchdog re-queues the task, and it would run twice. Where `setpriv` is missing
    the task outlives the agent (the watchdog still settles it)."""
    setpriv = shutil.which("setpriv")
    if setpriv is None or not sys.platform.startswith("linux"):
        return ()
    return (setpriv, "--pdeathsig", "KILL", "--")


def pump(pipe: IO[bytes], stream: str, console: ConsoleStream) -> None:
    with pipe:
        for raw in iter(pipe.readline, b""):
            console.write(raw.decode("utf-8", errors="replace").rstrip("\r\n"), stream)
