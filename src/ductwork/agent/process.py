"""A task's process under an agent: started fresh or forked warm, its output streamed in batches.

The process itself (its session, killing its tree, time limits) is `ductwork.process`'s; this
module adds what is the agent's: the console sent to the store in batches, and which tasks
are forked from a warm interpreter.

A fresh interpreter pays ~25-35 ms of CPU to start, and a function step (`python -m
ductwork.sdk.runner`) ~40-90 ms more to import the runner, on every task. So the agent keeps one
warm fork server (`process.WarmPool`) per environment, the first time a task needs it: for the
agent's own interpreter with `--same-env`, for each uv venv otherwise. Each imported the runner
once and forks a clean child per task, a function step or a script (`python script.py args`,
`python -m module args`) alike. A shell script, a task whose environment sets a `PYTHON*`
start-up variable its server was not started with, `--fresh-processes`, or anything unusual (no
AF_UNIX, the server failed to start) starts a fresh interpreter instead.
"""

from __future__ import annotations

import os
import selectors
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ductwork.core import settings
from ductwork.core.records import ConsoleLine
from ductwork.core.warmstart import RUNNER, RUNNER_IMPORTS
from ductwork.process import Child, WarmPool, spawn
from ductwork.process.console import CHUNK

# Console lines are sent in batches at most this often (and when a batch is large).
FLUSH_EVERY_S = 0.2
FLUSH_LINES = 500


class ConsoleStream:
    """Collects a task's output lines and sends them in batches, at most every FLUSH_EVERY_S
    and at once when FLUSH_LINES wait, from whichever thread writes (its output's reader)
    or checks on the run (`flush_due`, the agent's supervision tick): no thread of its own
    (one per task cost a tiny task's run ~0.1 ms of CPU and a wake-up). A run shorter than
    FLUSH_EVERY_S sends nothing on its own: its lines go with its end (`take`)."""

    def __init__(self, task_id: str, send: Callable[[list[ConsoleLine]], None]) -> None:
        self.task_id = task_id
        self._send = send
        self._lines: list[ConsoleLine] = []
        self._lock = threading.Lock()
        self._sending = threading.Lock()  # one batch at a time, in order
        self._sent = time.monotonic()  # the last batch (or the start)
        self._held = False  # `take`n: the run's end carries the rest, or `close` sends it
        self.tail: list[str] = []  # the last lines, to explain a failure

    def write(self, text: str, stream: str = "stdout") -> None:
        with self._lock:
            self._lines.append(ConsoleLine(task_id=self.task_id, text=text, stream=stream))
            self.tail.append(text)
            del self.tail[:-20]
            full = len(self._lines) >= FLUSH_LINES
        if full:
            self.flush()
        else:
            self.flush_due()

    def lines(self, stream: str, lines: list[str]) -> None:
        """A batch of a process's output lines (a Windows line end loses its CR)."""
        for line in lines:
            self.write(line.removesuffix("\r"), stream)

    def flush_due(self) -> None:
        """Send the waiting lines if the last batch went FLUSH_EVERY_S ago."""
        if self._lines and not self._held and time.monotonic() - self._sent >= FLUSH_EVERY_S:
            self.flush()

    def take(self) -> list[ConsoleLine]:
        """Stop sending and answer the lines not sent yet, for the caller to send with the
        run's end (one call instead of two); `close` sends any written later."""
        self._held = True
        with self._sending, self._lock:  # after a batch being sent: the order holds
            batch, self._lines = self._lines, []
        return batch

    def close(self) -> None:
        """Send what is left (again: nothing happens)."""
        self.flush(force=True)

    def flush(self, *, force: bool = False) -> None:
        with self._sending:
            if self._held and not force:
                return
            with self._lock:
                batch, self._lines = self._lines, []
            self._sent = time.monotonic()
            if batch:
                try:
                    self._send(batch)
                except Exception as exc:  # a lost batch must not kill the task it describes
                    print(f"ductwork agent: could not send console of task {self.task_id}: {exc}")


class TaskProcess:
    """A running task process whose stdout and stderr feed a `ConsoleStream`, read by one
    thread (both pipes: `Pump`)."""

    def __init__(self, child: Child, console: ConsoleStream) -> None:
        self.child = child
        self.console = console
        self._pump = Pump(child, console.lines)

    def finish(self) -> None:
        """Wait for the output pipes to drain (after the process ended)."""
        self._pump.join(timeout=5.0)


class Pump:
    """A child's stdout and stderr read on one thread, handed over as lines (`process.pump`'s
    rules: whole lines of each read, an unfinished last line at the end)."""

    def __init__(self, child: Child, deliver: Callable[[str, list[str]], None]) -> None:
        self._streams = {
            child.stdout.fileno(): ("stdout", child.stdout),
            child.stderr.fileno(): ("stderr", child.stderr),
        }
        self._deliver = deliver
        self._thread = threading.Thread(target=self._run, name=f"output-{child.pid}", daemon=True)
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait until both streams are drained (at most `timeout` seconds: a grandchild that
        kept the pipes open must not hold its parent up)."""
        self._thread.join(timeout)

    def _run(self) -> None:
        pending = dict.fromkeys(self._streams, b"")
        with selectors.DefaultSelector() as selector:
            for fd in self._streams:
                selector.register(fd, selectors.EVENT_READ)
            while pending:
                for key, _ in selector.select():
                    fd = int(key.fd)
                    name, stream = self._streams[fd]
                    chunk = os.read(fd, CHUNK)
                    if chunk:
                        *lines, pending[fd] = (pending[fd] + chunk).split(b"\n")
                        if lines:
                            self._give(name, lines)
                        continue
                    if pending[fd]:
                        self._give(name, [pending[fd]])
                    del pending[fd]
                    selector.unregister(fd)
                    stream.close()

    def _give(self, name: str, lines: list[bytes]) -> None:
        try:
            self._deliver(name, [line.decode("utf-8", "replace") for line in lines])
        except Exception as exc:  # a console that cannot take lines must not stop the draining
            print(f"ductwork agent: console lines lost: {exc!r}")


class Launcher:
    """Starts an agent's task processes, forked from a warm interpreter per environment when
    `warm` (one fork server per Python: the agent's own, each venv's), else fresh."""

    def __init__(self, *, warm: bool) -> None:
        self._warm = warm
        self._env = {k: v for k, v in os.environ.items() if k != "DUCTWORK_PIPE"}
        self._env["PYTHONUNBUFFERED"] = "1"  # children's prints stream line by line
        self._pools: dict[str, WarmPool] = {}
        self._lock = threading.Lock()
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
        """Run the task (`argv`: its interpreter, then what it runs): forked when its
        interpreter has a warm server and the warm path works, else as a fresh process that
        dies with the agent."""
        pool = self._pool(argv, env)
        if pool is not None:
            forked = pool.fork(env, str(cwd), paths, argv[1:])
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
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
            self._warm = False
        for pool in pools:
            pool.close()

    def _pool(self, argv: Sequence[str], env: Mapping[str, str]) -> WarmPool | None:
        """The warm server of the task's interpreter (started now, the first time), or None
        when the task must start fresh."""
        if not self._warm or len(argv) < 2 or not Path(argv[0]).name.startswith("python"):
            return None  # a shell script, or nothing to run
        if not _starts_alike(env, self._env):
            return None
        with self._lock:
            if not self._warm:
                return None
            pool = self._pools.get(argv[0])
            if pool is None:
                pool = self._pools[argv[0]] = WarmPool(RUNNER, RUNNER_IMPORTS, env=self._env, python=argv[0])
            return pool


def _starts_alike(env: Mapping[str, str], server: Mapping[str, str]) -> bool:
    """Would an interpreter started with `env` begin as one started with `server`? Python reads
    its PYTHON* variables once, at start (PYTHONPATH aside: the fork puts the task's paths first)."""
    names = {k for k in (*env, *server) if k.startswith("PYTHON") and k != "PYTHONPATH"}
    return all(env.get(k) == server.get(k) for k in names)


def transport_env(backend: Any) -> dict[str, str]:
    """How the task process reaches the same backend as its agent."""
    url = getattr(backend, "url", None)
    if hasattr(backend, "wait_claim") and url:
        env = {"DUCTWORK_API_URL": str(url)}
        key = getattr(backend, "api_key", None) or settings.api_key()
        if key:
            env["DUCTWORK_API_KEY"] = key
        return env
    return {"DUCTWORK_DB_URL": settings.db_url(), "DUCTWORK_HOME": str(settings.home())}
