"""A task's process under an agent: started fresh or forked warm, its output streamed in batches.

The process itself (its session, killing its tree, time limits) is `ductwork.process`'s; this
module adds what is the agent's: the console sent to the store from one thread, and which tasks
are forked from a warm interpreter.

A function step runs `python -m ductwork.sdk.runner`; a fresh interpreter pays ~25 ms to start
and ~40-90 ms to import the runner, on every step. With `--same-env` the agent keeps one warm
fork server (`process.WarmPool`) that imported the runner once and forks a clean child per step.
Anything unusual (no AF_UNIX, the server failed to start) falls back to a fresh interpreter.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ductwork.core.records import ConsoleLine
from ductwork.core.warmstart import RUNNER, RUNNER_IMPORTS
from ductwork.process import Child, Output, WarmPool, spawn

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

    def lines(self, stream: str, lines: list[str]) -> None:
        """A batch of a process's output lines (a Windows line end loses its CR)."""
        for line in lines:
            self.write(line.removesuffix("\r"), stream)

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

    def __init__(self, child: Child, console: ConsoleStream) -> None:
        self.child = child
        self._output = Output(child, console.lines)

    def finish(self) -> None:
        """Wait for the output pipes to drain (after the process ended)."""
        self._output.join(timeout=5.0)


class Launcher:
    """Starts an agent's task processes; function steps forked warm when `warm` (--same-env)."""

    def __init__(self, *, warm: bool) -> None:
        env = {k: v for k, v in os.environ.items() if k != "DUCTWORK_PIPE"}
        env["PYTHONUNBUFFERED"] = "1"  # children's prints stream line by line
        self._pool = WarmPool(RUNNER, RUNNER_IMPORTS, env=env) if warm else None
        self._told = False  # the console already said the warm path failed

    def start(
        self,
        script: Mapping[str, object],
        argv: Sequence[str],
        *,
        cwd: Path,
        env: dict[str, str],
        paths: list[str],
        console: ConsoleStream,
    ) -> TaskProcess:
        """Run the task: forked when it is a function step (the runner, no arguments) and the
        warm path works, else `argv` as a fresh process that dies with the agent."""
        if self._pool is not None and script.get("module") == RUNNER and not script.get("args"):
            forked = self._pool.fork(env, str(cwd), paths)
            if forked is not None:
                console.write(f"running {' '.join(argv)} in {cwd} (forked warm)", "ductwork")
                return TaskProcess(forked, console)
            if not self._told:
                self._told = True
                console.write("warm start failed; starting a fresh interpreter", "ductwork")
        console.write(f"running {' '.join(argv)} in {cwd}", "ductwork")
        # Dying with the agent: an agent killed with SIGKILL cannot stop its task, which would
        # run on while the watchdog re-queues it, and so run twice.
        return TaskProcess(spawn(argv, cwd=cwd, env=env, die_with_parent=True), console)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
