"""SIGKILL of a debug-mode controller while thousands of short steps run (embedded store,
SQLite and PostgreSQL). A debug run holds its steps' writes back and commits a window of them
at once (`pipelines.pending`): a kill loses at most the window in flight, never half of a
step. Every step task the store holds is whole (completed with its result and parameters, or
settled as lost: nothing stays `in_progress`), and every node state that says a step completed
names such a task. The controller runs on a machine of its own (`laptop`)."""

from __future__ import annotations

import sys

import pytest
from fault_harness import in_progress, kill, run_id, start_script, wait_for

from machines import Machines

pytestmark = pytest.mark.slow

FAN = """
import os
import sys

from ductwork import PipelineDecorator

LOG = os.path.join(os.path.expanduser("~"), "ran.log")


@PipelineDecorator.component(return_values=["v"])
def branch(i):
    with open(LOG, "a") as handle:
        handle.write(f"{i}\\n")
    return i * 2


@PipelineDecorator.pipeline(name="debug kills", project="faults", version="1.0.0")
def fan(width: int = 100_000):
    from ductwork import Task

    print("RUN", Task.current_task().id, flush=True)
    return sum(branch(i) for i in range(width))


PipelineDecorator.debug_pipeline()
fan()
"""


def test_a_killed_debug_controller_leaves_whole_steps_and_nothing_running(
    machines: Machines, db_url: str | None
) -> None:
    laptop = machines.machine("laptop", **({"DUCTWORK_DB_URL": db_url} if db_url else {}))
    controller = start_script(laptop, FAN)
    run = run_id(laptop)
    ran = laptop.work / "ran.log"  # the machine's home folder (~ inside it)
    wait_for("2,000 steps ran", lambda: ran.exists() and ran.read_text().count("\n") >= 2000)
    kill(controller)

    # The next ductwork process that looks settles the dead attempts (same host).
    laptop.execute([sys.executable, "-m", "ductwork", "tasks", "list"], timeout=60)
    from ductwork.core.queries import TaskQuery
    from ductwork.store import Store

    store = Store(db_url or f"sqlite:///{laptop.home / 'ductwork.db'}")
    try:
        assert in_progress(store) == []
        steps = store.query_tasks(TaskQuery(parent=run, archived=None, limit=None))
        started = ran.read_text().count("\n")
        assert 0 < len(steps) <= started + 1, (len(steps), started)  # + the one in its call
        completed = {task.id: task for task in steps if task.status == "completed"}
        assert completed, [task.status for task in steps[:5]]
        for task in completed.values():  # whole: its result and its arguments are there
            i = int(task.name.rpartition("_")[2]) if "_" in task.name else 0
            assert [a.name for a in store.get_artifacts(task.id)] == ["v"], task.id
            params = store.get_parameters(task.id)
            assert params["kwargs/i"].value == i and params["return/v"].value == 2 * i, params
        for task in steps:
            if task.status != "completed":
                assert task.status == "failed" and "process lost" in task.status_reason, task
        for node in store.get_nodes(run):  # a state that says completed names a whole task
            if node.status == "completed":
                assert node.task_id in completed, node
    finally:
        store.close()
