"""Faults with real processes on separate machines (tests/machines.py): a server killed and
started again on the same machine and port, agents and controllers killed with SIGKILL. Each
process runs as a machine of its own (own home, working folder, mount namespace); the store is
SQLite or PostgreSQL behind the server (or embedded in a local run's machine).

Steps count what they do in `steps.log` in their machine's `$HOME` (its working folder: `<name>
start`, `<name> end`), so a test sees how many times each step's function ran, whatever the
store says, on whichever machine it ran. A gated step waits for `gate` in its machine's `$HOME`.
The test process is no machine: it reads those logs and opens the gates through `machine.root`,
acting on the machines' disks as an operator would, never through a path a machine shares.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ductwork.core.queries import TaskQuery
from machines import Machine, Server

ROOT = Path(__file__).resolve().parents[3]
DEADLINE_S = 90.0  # generous: shared, noisy machines; every wait is for a condition
STEPS_LOG, GATE = "steps.log", "gate"
# What a chain s1 -> s2 -> s3 did when s2's first attempt was killed at its gate.
S2_RAN_TWICE = {"s1 start": 1, "s1 end": 1, "s2 start": 2, "s2 end": 1, "s3 start": 1, "s3 end": 1}

# A step that logs its start and end to `log` in its machine's home folder and, when `gate`
# names a file there, waits for it to appear: the fault tests kill or restart things while a
# step is held at its gate.
GATED_STEP = """
def step(name, x, log, gate):
    import os
    import time

    log = os.path.join(os.path.expanduser("~"), log)
    gate = os.path.join(os.path.expanduser("~"), gate) if gate else ""
    with open(log, "a") as handle:
        handle.write(name + " start\\n")
    with open(log + "." + name + ".pid", "w") as handle:
        handle.write(str(os.getpid()))
    while gate and not os.path.exists(gate):
        time.sleep(0.05)
    with open(log, "a") as handle:
        handle.write(name + " end\\n")
    return x + 1
"""


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


def counts(*machines: Machine) -> dict[str, int]:
    """`{"<step> start": n, "<step> end": n}` from the lines the steps appended, summed over
    `machines` (read from the test process, through each machine's folder)."""
    found: dict[str, int] = {}
    for machine in machines:
        for line in machine.log(f"work/{STEPS_LOG}").splitlines():
            if line.strip():
                found[line.strip()] = found.get(line.strip(), 0) + 1
    return found


def open_gate(*machines: Machine) -> None:
    """Let the gated step go on each of `machines` (the test process writes into their folders)."""
    for machine in machines:
        (machine.work / GATE).touch()


def start_script(
    machine: Machine, script: str, *args: str, log: str = "controller.log"
) -> subprocess.Popen[bytes]:
    """Run the text `script` on `machine` (in its working folder); its output goes to `log`."""
    (machine.work / "script.py").write_text(script)
    return machine.start([sys.executable, "script.py", *args], log)


def run_id(machine: Machine, log: str = "controller.log") -> str:
    """The run id a script printed first (`RUN <id>`) into `log` on `machine`."""
    line = wait_for(
        f"a RUN line in {machine.name}'s {log}",
        lambda: next((line for line in machine.log(log).splitlines() if line.startswith("RUN ")), ""),
        60,
    )
    return str(line.split()[1])


def kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL (a machine's process is the command itself: the namespace setup execs it)."""
    os.kill(process.pid, signal.SIGKILL)
    process.wait(10)


def kill_server(server: Server) -> None:
    kill(server.machine.processes[-1])


def start_server(server: Server) -> None:
    """`ductwork server` again on its machine (same home, store and port)."""
    port = server.url.rsplit(":", 1)[1]
    server.machine.start([sys.executable, "-m", "ductwork", "server", "--port", port], "server.log")
    wait_for(f"the server at {server.url} answers", lambda: _healthy(server.url), 60)


def restart_server(server: Server, down_s: float = 0.0, until: Callable[[], bool] | None = None) -> None:
    """SIGKILL, stay down for `down_s` (or until `until()`), start again on the same machine."""
    kill_server(server)
    if until is not None:
        wait_for("the condition to start the server again", until)
    time.sleep(down_s)
    start_server(server)


def _healthy(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/api/health", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


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
