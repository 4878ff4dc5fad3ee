"""Faults around agents, through a real server (SQLite and PostgreSQL): an agent killed with
SIGKILL mid-step, and "Continue" right after "Abort" of a remote run. Each run finishes."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest
from fault_harness import GATED_STEP, Processes, Server, counts, in_progress, output, wait_for

from ductwork.core.queries import TaskQuery

pytestmark = pytest.mark.slow

CHAIN = (
    """
import sys

from ductwork import PipelineController

"""
    + GATED_STEP
    + """

log, gate, how = sys.argv[1], sys.argv[2], sys.argv[3]
pipe = PipelineController(name="agents", project="faults", version="1.0.0", retry_on_failure=1)
pipe.set_default_execution_queue("default")
previous = None
for i in range(1, 4):
    kwargs = {
        "name": f"s{i}",
        "x": 0 if previous is None else "${%s.out}" % previous,
        "log": log,
        "gate": gate if i == 2 else "",
    }
    pipe.add_function_step(
        f"s{i}", step, function_kwargs=kwargs, function_return=["out"],
        parents=[previous] if previous else None,
    )
    previous = f"s{i}"
print("RUN", pipe.id, flush=True)
if how == "remote":
    pipe.start(queue="services")
else:
    pipe.start_locally()
"""
)


def _start(processes: Processes, server: Server, tmp_path: Path, how: str) -> tuple[str, object]:
    script = tmp_path / "chain.py"
    script.write_text(CHAIN)
    env = server.client_env(tmp_path / "controller-home")
    log, gate = tmp_path / "steps.log", tmp_path / "gate"
    controller = processes.start([sys.executable, str(script), str(log), str(gate), how], env)
    assert controller.stdout is not None
    line = controller.stdout.readline().decode()
    assert line.startswith("RUN "), line + output(controller)
    return line.split()[1], controller


def test_a_killed_agent_s_step_is_retried_elsewhere_and_the_run_finishes(
    server: Server, processes: Processes, tmp_path: Path
) -> None:
    for n in (1, 2):
        processes.agent(server.client_env(tmp_path / f"agent-home-{n}"), "default")
    backend = server.backend()
    wait_for("two agents", lambda: len(backend.list_workers()) >= 2)
    run_id, controller = _start(processes, server, tmp_path, "local")
    log, gate = tmp_path / "steps.log", tmp_path / "gate"
    wait_for("step s2 runs", lambda: counts(log).get("s2 start"))
    s2 = next(t for t in backend.query_tasks(TaskQuery(parent=run_id, archived=None)) if t.name == "s2")
    agent_pid = int(str(s2.worker).rsplit(":", 1)[1])
    os.kill(agent_pid, signal.SIGKILL)
    # The server's watchdog settles the lost attempt after the heartbeat timeout; the run's
    # retry policy runs the step again on the other agent.
    wait_for("s2 runs again", lambda: counts(log).get("s2 start") == 2)
    gate.touch()
    assert controller.wait(120) == 0, output(controller)  # type: ignore[attr-defined]
    assert backend.get_task(run_id).status == "completed"
    assert counts(log) == {"s1 start": 1, "s1 end": 1, "s2 start": 2, "s2 end": 1, "s3 start": 1, "s3 end": 1}
    lost = backend.get_task(s2.id)
    assert lost.status == "failed" and "stopped responding" in lost.status_message, lost
    assert in_progress(backend) == []


@pytest.mark.parametrize("how", ["remote", "local"])
def test_continue_right_after_abort_finishes_the_run(
    server: Server, processes: Processes, tmp_path: Path, how: str
) -> None:
    """Remote: the run's controller is on an agent. Local: it runs in a process of ours, which
    must leave the run to its continuation (on `services`) instead of finishing it."""
    processes.agent(server.client_env(tmp_path / "agent-services"), "services", slots=4)
    processes.agent(server.client_env(tmp_path / "agent-default"), "default")
    backend = server.backend()
    wait_for("the agents", lambda: len(backend.list_workers()) >= 5)
    run_id, submitted = _start(processes, server, tmp_path, how)
    if how == "remote":
        assert submitted.wait(60) == 0, output(submitted)  # type: ignore[attr-defined]
    log, gate = tmp_path / "steps.log", tmp_path / "gate"
    wait_for("step s2 runs", lambda: counts(log).get("s2 start"))
    backend.abort_run(run_id)
    gate.touch()
    backend._call("POST", f"/api/runs/{run_id}/continue", json={})

    def finished() -> str:
        status = str(backend.get_task(run_id).status)
        return status if status in ("completed", "failed", "stopped") else ""

    assert wait_for("the continued run ends", finished, 120) == "completed", [
        line.text for line in backend.get_console(run_id)
    ]
    steps = backend.query_tasks(TaskQuery(parent=run_id, archived=None))
    assert [s.status for s in steps if s.name == "s1"] == ["completed"]  # reused, not run again
    assert counts(log)["s1 end"] == 1 and counts(log)["s3 end"] == 1
    assert wait_for("no attempt left running", lambda: in_progress(backend) == [], 30)
    if how == "local":  # the first controller gave the run up without closing it
        assert submitted.wait(60) == 0, output(submitted)  # type: ignore[attr-defined]
