"""A schedule whose task is a pipeline run: the clone it enqueues runs on an agent with the
schedule's argument override (x=5 where the run had x=3)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.automation.conftest import pipeline_run, run_for, wait_for

SCRIPT = """
from ductwork import PipelineController

def scale(x, factor):
    return x * factor

pipe = PipelineController(name="scaled", project="sched")
pipe.add_parameter("x", 3)
pipe.set_default_execution_queue("default")
pipe.add_function_step(
    "scale", scale, function_kwargs={"x": "${pipeline.x}", "factor": 2}, function_return=["y"]
)
pipe.start(queue="services")
"""


def test_a_scheduled_pipeline_run_runs_with_the_overridden_argument(
    agent: dict[str, str], tmp_path: Path
) -> None:
    from ductwork import client
    from ductwork.automation import TaskScheduler
    from ductwork.core.queries import TaskQuery
    from ductwork.pipelines.runner import load_output

    first = pipeline_run(SCRIPT, agent, tmp_path)
    store = client.backend()

    def outcome(task_id: str) -> str | None:
        status = store.get_task(task_id).status
        return status if status in ("completed", "failed", "stopped") else None

    # The first run ends before the clone is launched: two controllers on the agent's two
    # slots would leave no slot for their steps.
    assert wait_for(lambda: outcome(first.id), 90) == "completed"

    scheduler = TaskScheduler(force_create_task_name="scaled nightly", force_create_task_project="sched")
    scheduler.add_task(
        schedule_task_id=first.id,
        queue="services",
        minute=1 / 60,
        recurring=False,
        task_parameters={"Args/x": 5},
    )
    run_for(scheduler, 2.0)
    (run,) = store.query_tasks(TaskQuery(runtime={"scheduled_by": scheduler._task.id}, archived=None))

    assert wait_for(lambda: outcome(run.id), 90) == "completed"
    values = {}
    for run_id in (first.id, run.id):
        node = {n.name: n for n in store.get_nodes(run_id)}["scale"]
        values[run_id] = load_output(store, f"{node.task_id}.y")
    assert values == {first.id: 6, run.id: 10}


REMOTE = """
import os
from ductwork.automation import TaskScheduler

def tick():
    with open(os.environ["TICKS"], "a") as out:
        out.write("tick\\n")

scheduler = TaskScheduler(force_create_task_name="remote", force_create_task_project="sched")
scheduler.add_task(schedule_function=tick, name="tick", minute=1 / 60)
scheduler.start_remotely(queue="services")
"""


def test_start_remotely_hands_the_loop_to_a_services_agent(agent: dict[str, str], tmp_path: Path) -> None:
    from ductwork import client
    from ductwork.core.queries import TaskQuery

    ticks = tmp_path / "ticks"  # the agent fixture's environment names it (TICKS)
    script = tmp_path / "remote.py"
    script.write_text(textwrap.dedent(REMOTE))
    done = subprocess.run(
        [sys.executable, str(script)], env=agent, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert not ticks.exists()  # nothing fired here: the loop runs on the agent
    wait_for(lambda: ticks.exists() and ticks.read_text().count("tick") >= 2, 60)
    store = client.backend()
    (own,) = store.query_tasks(TaskQuery(system_tags=["scheduler"], archived=None))
    assert own.status == "in_progress" and own.worker
    from ductwork.automation.commands import entries

    (row,) = entries()  # under an agent, the agent's slot beats for the scheduler's task
    assert row["alive"] is True and row["loop"].startswith("heartbeat ")
    store.set_status(own.id, "stopped", force=True, message="test over")
