"""Faults with real processes: a server killed and started again on the same port, agents and
controllers killed with SIGKILL. Each process has its own `DUCTWORK_HOME`; the store is SQLite
or PostgreSQL behind the server (or shared by embedded processes).

Steps count what they do in files they append to (`<name> start`, `<name> end`), so a test
sees how many times each step's function ran, whatever the store says.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ductwork.core.queries import TaskQuery

ROOT = Path(__file__).resolve().parents[3]
SRC = str(ROOT / "src")
FINAL = ("completed", "failed", "stopped", "published")
DEADLINE_S = 90.0  # generous: shared, noisy machines; every wait is for a condition


def base_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUCTWORK_")}
    env["PYTHONPATH"] = os.pathsep.join([SRC, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["DUCTWORK_HOME"] = str(home)
    env.update(extra)
    return env


def wait_for(what: str, check: Callable[[], Any], timeout: float = DEADLINE_S) -> Any:
    """Poll `check` until it answers something true; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as exc:  # the server may be restarting: look again
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.1)
    raise AssertionError(f"{what}: not after {timeout:g} s (last: {last!r})")


def counts(path: Path) -> dict[str, int]:
    """`{"<step> start": n, "<step> end": n}` from the lines the steps appended."""
    found: dict[str, int] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                found[line.strip()] = found.get(line.strip(), 0) + 1
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# A step that logs its start and end to `log` and, when `gate` names a file, waits for it
# to appear: the fault tests kill or restart things while a step is held at its gate.
GATED_STEP = """
def step(name, x, log, gate):
    import os
    import time

    with open(log, "a") as handle:
        handle.write(name + " start\\n")
    while gate and not os.path.exists(gate):
        time.sleep(0.05)
    with open(log, "a") as handle:
        handle.write(name + " end\\n")
    return x + 1
"""


@dataclass
class Server:
    """A `ductwork server` process that can be killed and started again on the same port."""

    home: Path
    db_url: str | None
    port: int = field(default_factory=free_port)
    key: str = ""
    process: subprocess.Popen[bytes] | None = None
    heartbeat_timeout: float = 4.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        extra = {"DUCTWORK_HEARTBEAT_TIMEOUT": str(self.heartbeat_timeout)}
        if self.db_url:
            extra["DUCTWORK_DB_URL"] = self.db_url
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ductwork", "server", "--port", str(self.port)],
            env=base_env(self.home, **extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        if not self.key:
            self.key = self._first_key()
        else:  # later starts print no key; drain the output so the server never blocks on it
            import threading

            assert self.process.stdout is not None
            threading.Thread(target=self.process.stdout.read, daemon=True).start()
        wait_for(f"the server at {self.url} answers", self._healthy, 60)

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def restart(self, down_s: float = 0.0, until: Callable[[], bool] | None = None) -> None:
        """SIGKILL, stay down for `down_s` (or until `until()`), start again on the same port."""
        self.kill()
        if until is not None:
            wait_for("the condition to start the server again", until)
        time.sleep(down_s)
        self.start()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def client_env(self, home: Path, **extra: str) -> dict[str, str]:
        return base_env(home, DUCTWORK_API_URL=self.url, DUCTWORK_API_KEY=self.key, **extra)

    def backend(self) -> Any:
        from ductwork.client.http import HttpBackend

        return HttpBackend(self.url, self.key)

    def _healthy(self) -> bool:
        import urllib.request

        try:
            with urllib.request.urlopen(f"{self.url}/api/health", timeout=2) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def _first_key(self) -> str:
        assert self.process is not None and self.process.stdout is not None
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.process.stdout.readline().decode()
            seen.append(line)
            if "API key:" in line:
                key = line.split("API key:")[1].strip()
                import threading

                threading.Thread(target=self.process.stdout.read, daemon=True).start()
                return key
            if not line and self.process.poll() is not None:
                break
        raise AssertionError("the server printed no first admin key:\n" + "".join(seen))


class Processes:
    """Every process a test starts, killed at its end (only these, by pid)."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        self.started.append(process)
        return process

    def agent(self, env: dict[str, str], *queues: str, slots: int = 1) -> subprocess.Popen[bytes]:
        args = [a for queue in queues for a in ("--queue", queue)]
        if slots > 1:
            args += ["--services-mode", str(slots)]
        return self.start([sys.executable, "-m", "ductwork", "agent", "--same-env", *args], env)

    def stop_all(self) -> None:
        for process in reversed(self.started):
            if process.poll() is None:
                process.terminate()
        for process in self.started:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def fresh_pg(url: str) -> str:
    """The session's PostgreSQL schema, emptied for this test."""
    import sqlalchemy as sa

    from ductwork.store.tables import metadata

    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
            conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        engine.dispose()
    return url


def in_progress(backend: Any) -> list[Any]:
    return list(backend.query_tasks(TaskQuery(status=["in_progress"], archived=None)))


def output(process: subprocess.Popen[bytes]) -> str:
    """What a finished process printed."""
    if process.stdout is None:
        return ""
    return process.stdout.read().decode(errors="replace")
