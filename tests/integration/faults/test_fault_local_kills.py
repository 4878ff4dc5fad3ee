"""SIGKILL in local mode (embedded store, SQLite and PostgreSQL): of the controller, then of a
step process. No attempt stays `in_progress`; a killed run resumes and finishes, reusing the
steps that completed; a killed step is retried by its policy. Steps count their starts and
ends in a file, so "executed once" is what really ran, not what the store says. The run is
local: its controller and step processes share one machine of their own (`laptop`)."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

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

from machines import Machine, Machines

pytestmark = pytest.mark.slow

STEPS = (
    """
import sys

from ductwork import PipelineController, client
from ductwork.pipelines.runner import load_output


"""
    + GATED_STEP
    + """


def show(pipe):
    last = pipe.get_pipeline_dag()["s3"]
    value = load_output(client.backend(), f"{last.executed}.out") if last.executed else None
    print("RUN", pipe.id, "VALUE", value, flush=True)


if sys.argv[1] == "resume":
    show(PipelineController.resume(sys.argv[2]))
    sys.exit(0)
log, gate, retries = sys.argv[1], sys.argv[2], int(sys.argv[3])
pipe = PipelineController(name="kills", project="faults", version="1.0.0", retry_on_failure=retries)
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
pipe.start_locally(run_pipeline_steps_locally=True)
show(pipe)
"""
)


def _laptop(machines: Machines, db_url: str | None) -> Machine:
    return machines.machine("laptop", **({"DUCTWORK_DB_URL": db_url} if db_url else {}))


def _store(laptop: Machine, db_url: str | None) -> Any:
    """The run's store, opened by the test process (for SQLite, in the laptop's home folder)."""
    from ductwork.store import Store

    return Store(db_url or f"sqlite:///{laptop.home / 'ductwork.db'}")


def _pid(laptop: Machine, step: str) -> int:
    """The pid step `step` wrote into its machine's home folder (read from the test process;
    the machines share the host's process ids: only mounts are their own)."""
    pid_file = laptop.work / f"{STEPS_LOG}.{step}.pid"
    return int(wait_for(f"{step} says its pid", pid_file.read_text))


def test_a_killed_local_controller_leaves_no_attempt_running_and_resumes(
    machines: Machines, db_url: str | None
) -> None:
    laptop = _laptop(machines, db_url)
    controller = start_script(laptop, STEPS, STEPS_LOG, GATE, "0")
    run = run_id(laptop)
    wait_for("step s2 runs", lambda: counts(laptop).get("s2 start"))
    s2_pid = _pid(laptop, "s2")
    kill(controller)

    # The next ductwork process that looks settles the dead attempts, at once (same host).
    laptop.execute([sys.executable, "-m", "ductwork", "tasks", "list"], timeout=60)
    store = _store(laptop, db_url)
    assert in_progress(store) == []
    lost = store.get_task(run)
    assert lost.status == "failed" and "process lost" in lost.status_reason, lost
    # The killed step's process died with its controller: it never ends on its own.
    wait_for("the killed controller's step process is gone", lambda: not _alive(s2_pid), 30)

    open_gate(laptop)
    resumed = laptop.start([sys.executable, "script.py", "resume", run], "resume.log")
    assert resumed.wait(120) == 0, laptop.log("resume.log")
    assert f"RUN {run} VALUE 3" in laptop.log("resume.log")
    assert store.get_task(run).status == "completed"
    # s1 reused; s2 ran again (its first attempt was killed); each function ended once.
    assert counts(laptop) == S2_RAN_TWICE
    assert in_progress(store) == []
    store.close()


def test_a_killed_step_process_is_retried_by_its_policy(machines: Machines, db_url: str | None) -> None:
    laptop = _laptop(machines, db_url)
    controller = start_script(laptop, STEPS, STEPS_LOG, GATE, "1")
    run = run_id(laptop)
    wait_for("step s2 runs", lambda: counts(laptop).get("s2 start"))
    os.kill(_pid(laptop, "s2"), signal.SIGKILL)
    wait_for("s2 is retried", lambda: counts(laptop).get("s2 start") == 2)
    open_gate(laptop)
    assert controller.wait(120) == 0, laptop.log("controller.log")
    assert f"RUN {run} VALUE 3" in laptop.log("controller.log")
    assert counts(laptop) == S2_RAN_TWICE
    store = _store(laptop, db_url)
    assert store.get_task(run).status == "completed"
    from ductwork.core.queries import TaskQuery

    attempts = sorted((t.name, t.status) for t in store.query_tasks(TaskQuery(parent=run, archived=None)))
    assert attempts == [("s1", "completed"), ("s2", "completed"), ("s2", "failed"), ("s3", "completed")]
    assert in_progress(store) == []
    store.close()


def _alive(pid: int) -> bool:
    from ductwork.core.orphans import process_alive

    return process_alive(pid, None)
