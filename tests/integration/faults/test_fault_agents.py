"""Faults around agents, through a real server (SQLite and PostgreSQL): an agent killed with
SIGKILL mid-step, and "Continue" right after "Abort" of a remote run. Each run finishes. The
server, each agent and the controller's client are machines of their own."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from fault_harness import (
    GATE,
    GATED_STEP,
    S2_RAN_TWICE,
    STEPS_LOG,
    counts,
    in_progress,
    kill,
    open_gate,
    run_id,
    start_script,
    wait_for,
)

from ductwork.core.queries import TaskQuery
from machines import Machine, Machines, Server

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


def _start(machines: Machines, how: str) -> tuple[str, Machine, subprocess.Popen[bytes]]:
    laptop = machines.client("laptop")
    controller = start_script(laptop, CHAIN, STEPS_LOG, GATE, how)
    return run_id(laptop), laptop, controller


def test_a_killed_agent_s_step_is_retried_elsewhere_and_the_run_finishes(
    machines: Machines, server: Server
) -> None:
    agents = {name: machines.agent(name, ["default"]) for name in ("agent-1", "agent-2")}
    backend = server.api
    run, laptop, controller = _start(machines, "local")
    wait_for("step s2 runs", lambda: counts(*agents.values()).get("s2 start"))
    s2 = server.steps(run)["s2"]
    kill(agents[str(s2.worker)].processes[0])  # the agent process itself, not its step's
    # The server's watchdog settles the lost attempt after the heartbeat timeout; the run's
    # retry policy runs the step again on the other agent.
    wait_for("s2 runs again", lambda: counts(*agents.values()).get("s2 start") == 2)
    open_gate(*agents.values())
    assert controller.wait(120) == 0, laptop.log("controller.log")
    assert backend.get_task(run).status == "completed"
    assert counts(*agents.values(), laptop) == S2_RAN_TWICE
    lost = backend.get_task(s2.id)
    assert lost.status == "failed" and "stopped responding" in lost.status_message, lost
    assert in_progress(backend) == []
    # SIGKILL ran no cleanup: the step's folder stays until an agent starts on that machine again.
    killed = agents[str(s2.worker)]
    [lock] = (killed.root / "tmp" / f"ductwork-agents-{os.getuid()}").glob("*.lock")
    assert lock.with_suffix("").is_dir()
    long_ago = time.time() - 3600  # past the grace a lock not yet taken gets
    os.utime(lock, (long_ago, long_ago))
    argv = [sys.executable, "-m", "ductwork", "agent", "--same-env", "--name", "again", "--queue", "default"]
    killed.start(argv, "again.log")
    wait_for("the new agent removes the leftover", lambda: "removed 1 task folder" in killed.log("again.log"))
    assert not lock.exists() and not lock.with_suffix("").exists()


@pytest.mark.parametrize("how", ["remote", "local"])
def test_continue_right_after_abort_finishes_the_run(machines: Machines, server: Server, how: str) -> None:
    """Remote: the run's controller is on an agent. Local: it runs in a process of ours, which
    must leave the run to its continuation (on `services`) instead of finishing it."""
    services = machines.agent("services", ["services"], services=4)
    worker = machines.agent("worker", ["default"])
    backend = server.api
    run, laptop, submitted = _start(machines, how)
    if how == "remote":
        assert submitted.wait(60) == 0, laptop.log("controller.log")
    wait_for("step s2 runs", lambda: counts(worker).get("s2 start"))
    backend.abort_run(run)
    open_gate(worker)
    backend._call("POST", f"/api/runs/{run}/continue", json={})

    def finished() -> str:
        status = str(backend.get_task(run).status)
        return status if status in ("completed", "failed", "stopped") else ""

    assert wait_for("the continued run ends", finished, 120) == "completed", [
        line.text for line in backend.get_console(run)
    ]
    steps = backend.query_tasks(TaskQuery(parent=run, archived=None))
    assert [s.status for s in steps if s.name == "s1"] == ["completed"]  # reused, not run again
    done = counts(worker, services, laptop)
    assert done["s1 end"] == 1 and done["s3 end"] == 1, done
    assert wait_for("no attempt left running", lambda: in_progress(backend) == [], 30)
    if how == "local":  # the first controller gave the run up without closing it
        assert submitted.wait(60) == 0, laptop.log("controller.log")
