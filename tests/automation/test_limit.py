"""`limit_execution_time` on a real clock (ClearML: hours, counted from the launch; a task still
queued or running then is stopped by the scheduler). A fraction of an hour lets a test use a
few seconds. The reason is on the stopped task and in the schedule's state."""

from __future__ import annotations

import math
import os
import textwrap
from pathlib import Path
from typing import Any

import pytest
from tests.automation.conftest import pipeline_run, run_for, running, saved_state, wait_for

SECOND = 1 / 60  # minute=SECOND: an interval of one second
SECONDS = 1 / 3600  # limit_execution_time=3 * SECONDS: three seconds


def _base(name: str, script: Path | None = None) -> str:
    from ductwork import client
    from ductwork.core.records import TaskRecord
    from ductwork.sdk.task import Task

    if script is not None:
        return Task.create(project_name="sched", task_name=name, script=str(script)).id
    backend = client.backend()
    return backend.create_task(TaskRecord(name=name, project=backend.ensure_project("sched").id)).id


def _launched(scheduler_id: str) -> list[str]:
    from ductwork import client
    from ductwork.core.queries import TaskQuery

    found = client.backend().query_tasks(TaskQuery(runtime={"scheduled_by": scheduler_id}, archived=None))
    return [t.id for t in found]


def _limited(name: str, base: str, queue: str, seconds: int) -> Any:
    """A scheduler of one entry: launch `base` on `queue` once, a second from now, limited."""
    from ductwork.automation import TaskScheduler

    scheduler = TaskScheduler(force_create_task_name=name, force_create_task_project="sched")
    scheduler.add_task(
        schedule_task_id=base,
        queue=queue,
        minute=SECOND,
        recurring=False,
        limit_execution_time=seconds * SECONDS,
    )
    return scheduler


def _stopped(task_id: str) -> Any:
    from ductwork import client

    backend = client.backend()
    return wait_for(lambda: (t := backend.get_task(task_id)).status == "stopped" and t, 30)


def test_bad_limits_are_refused_with_the_argument_named(home: Path) -> None:
    from ductwork.automation import TaskScheduler

    scheduler = TaskScheduler(force_create_task_name="limits", force_create_task_project="sched")
    for bad, says in (
        (0, "more than 0 hours"),
        (-1, "more than 0 hours"),
        (math.nan, "a number of hours"),
        (math.inf, "a number of hours"),
        (True, "a number of hours"),
        ("2", "a number of hours"),
        (10**9, "more than 876000"),
    ):
        with pytest.raises(ValueError, match=f"limit_execution_time.*{says}"):
            scheduler.add_task(schedule_task_id="abc", queue="q", minute=5, limit_execution_time=bad)
    assert not scheduler.get_scheduled_tasks()
    scheduler.add_task(schedule_task_id="abc", queue="q", minute=5, limit_execution_time=0.25)
    (entry,) = scheduler.get_scheduled_tasks()
    assert entry.limit_execution_time == 0.25 and entry.definition()["limit_execution_time"] == 0.25


def test_a_task_still_queued_at_its_limit_is_stopped_with_the_reason(home: Path) -> None:
    from ductwork import client

    base = _base("waits")
    scheduler = _limited("queued limit", base, "nobody serves", 2)
    backend = client.backend()
    with running(scheduler):
        (task_id,) = wait_for(lambda: _launched(scheduler._task.id), 10)
        stopped = _stopped(task_id)
    assert stopped.status_reason == "limit_execution_time"
    assert stopped.status_message.startswith("limit_execution_time: still queued")
    assert (
        scheduler._task.id in stopped.status_message
        and "limit_execution_time" not in backend.get_task(base).status_reason
    )
    assert backend.queue_entries("nobody serves") == []
    (entry,) = saved_state(scheduler._task.id).values()
    assert entry["timed_out"] == 1 and entry["last_timeout"]["task"] == task_id
    assert entry["last_timeout"]["was"] == "queued" and not entry.get("deadlines")


SLEEPER = """
import os, time
with open(os.environ["TICKS"], "w") as out:  # the agent's environment names it
    out.write(str(os.getpid()))
time.sleep(120)
"""


def test_a_running_task_over_its_limit_is_stopped_and_its_process_killed(
    agent: dict[str, str], tmp_path: Path
) -> None:
    from ductwork import client
    from ductwork.core.orphans import process_alive

    script = tmp_path / "sleeper.py"
    script.write_text(textwrap.dedent(SLEEPER))
    base = _base("sleeps", script)
    backend = client.backend()
    wait_for(lambda: backend.list_workers(), 30)  # the agent is up: it claims at once
    scheduler = _limited("running limit", base, "default", 4)
    with running(scheduler):
        (task_id,) = wait_for(lambda: _launched(scheduler._task.id), 10)
        pid_file = Path(agent["TICKS"])
        pid = int(wait_for(lambda: pid_file.exists() and pid_file.read_text(), 30))
        stopped = _stopped(task_id)
        wait_for(lambda: not process_alive(pid, None), 30)  # the agent saw the status and killed it
    assert stopped.status_reason == "limit_execution_time"
    assert stopped.status_message.startswith("limit_execution_time: still in_progress")
    (entry,) = saved_state(scheduler._task.id).values()
    assert entry["timed_out"] == 1 and entry["last_timeout"] == {
        "task": task_id,
        "at": entry["last_timeout"]["at"],
        "was": "in_progress",
    }
    assert os.path.exists(pid_file)


def test_a_restarted_scheduler_stops_what_an_earlier_one_launched(home: Path) -> None:
    from ductwork import client

    base = _base("outlives")
    backend = client.backend()

    first = _limited("limit restart", base, "held", 4)
    run_for(first, 1.5)  # launches at +1 s; the limit falls 4 s later, after this one stopped
    (task_id,) = _launched(first._task.id)
    assert backend.get_task(task_id).status == "queued"
    assert task_id in saved_state(first._task.id)[base]["deadlines"]

    second = _limited("limit restart", base, "held", 4)
    assert second._task.id == first._task.id
    with running(second):
        stopped = _stopped(task_id)
    assert stopped.status_reason == "limit_execution_time"
    assert _launched(first._task.id) == [task_id]  # the one-time slot did not run again
    assert saved_state(first._task.id)[base]["timed_out"] == 1


def test_a_task_that_ends_within_its_limit_is_left_alone(home: Path) -> None:
    from ductwork import client
    from ductwork.automation import TaskScheduler

    base = _base("quick")
    backend = client.backend()
    # a limit of a minute, and a loop that wakes every 0.3 s (its sync) to see the task end
    scheduler = TaskScheduler(
        0.3 / 60, force_create_task_name="within limit", force_create_task_project="sched"
    )
    scheduler.add_task(
        schedule_task_id=base, queue="held", minute=SECOND, recurring=False, limit_execution_time=60 * SECONDS
    )
    with running(scheduler):
        (task_id,) = wait_for(lambda: _launched(scheduler._task.id), 10)
        claimed = wait_for(lambda: backend.claim(["held"], "test-worker"), 10)  # once enqueued
        assert claimed.id == task_id
        backend.set_status(task_id, "completed")
        wait_for(lambda: not saved_state(scheduler._task.id)[base].get("deadlines"), 15)
    assert backend.get_task(task_id).status == "completed"
    assert "timed_out" not in saved_state(scheduler._task.id)[base]


PIPELINE = """
from ductwork import PipelineController

def slow(x):
    import os, time
    with open(os.environ["TICKS"], "w") as out:  # the agent's environment names it
        out.write(str(os.getpid()))
    time.sleep(120)
    return x

pipe = PipelineController(name="slow", project="sched")
pipe.add_parameter("x", 3)
pipe.set_default_execution_queue("default")
pipe.add_function_step("slow", slow, function_kwargs={"x": "${pipeline.x}"}, function_return=["y"])
pipe.start(queue="nobody serves")  # this run waits there; the scheduled clone runs on the agent
"""


def test_a_pipeline_run_over_its_limit_is_stopped_with_its_steps(
    agent: dict[str, str], tmp_path: Path
) -> None:
    from ductwork import client
    from ductwork.core.orphans import process_alive
    from ductwork.core.queries import TaskQuery

    base = pipeline_run(PIPELINE, agent, tmp_path)
    backend = client.backend()
    pid_file = Path(agent["TICKS"])
    scheduler = _limited("pipeline limit", base.id, "services", 8)
    with running(scheduler):
        (run_id,) = wait_for(lambda: _launched(scheduler._task.id), 10)
        stopped = _stopped(run_id)
        below = TaskQuery(parent=run_id, status=["queued", "in_progress"], archived=None)
        # Whichever stops a step first (this scheduler, or the controller seeing its run
        # stopped before its agent kills it), none is left queued or running...
        wait_for(lambda: not backend.query_tasks(below), 30)
        # ...and a step process that had started is killed by its agent.
        if pid_file.exists() and pid_file.read_text():
            wait_for(lambda: not process_alive(int(pid_file.read_text()), None), 30)
    assert stopped.status_reason == "limit_execution_time"
    nodes = backend.get_nodes(run_id)
    assert all(n.status in ("aborted", "skipped", "completed") for n in nodes), nodes
