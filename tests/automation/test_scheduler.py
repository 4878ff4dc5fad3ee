"""TaskScheduler on a real clock, with seconds-long intervals: counts of firings, a pipeline
run cloned with new arguments, what the CLI shows, and bad input named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.automation.conftest import run_for

SECOND = 1 / 60  # minute=SECOND: an interval of one second


def test_an_interval_fires_once_per_slot_and_keeps_its_state(home: Path) -> None:
    from ductwork import client
    from ductwork.automation import TaskScheduler

    calls: list[float] = []
    scheduler = TaskScheduler(force_create_task_name="ticks", force_create_task_project="sched")
    scheduler.add_task(schedule_function=lambda: calls.append(1.0), name="tick", minute=SECOND)
    run_for(scheduler, 3.5)  # slots at +1, +2, +3 s
    assert len(calls) == 3
    state = json.loads(client.backend().get_configurations(scheduler._task.id)["state"].text)
    assert state["tick"]["fired"] == 3 and state["tick"]["next"] > state["tick"]["last_slot"]
    (entry,) = scheduler.get_scheduled_tasks()
    assert entry.next_run() is not None and entry.next_run().isoformat() == state["tick"]["next"]

    from ductwork.automation.commands import scheduler as command

    shown = CliRunner().invoke(command, ["list", "--json"])
    assert shown.exit_code == 0, shown.output
    (row,) = json.loads(shown.output)
    assert row["entry"] == "tick" and row["fired"] == 3 and row["next"] and row["last"]
    from ductwork.cli import main

    table = CliRunner().invoke(main, ["scheduler", "list"])  # as registered in the CLI
    assert "tick" in table.output


def test_a_schedule_clones_a_pipeline_run_with_new_arguments(home: Path) -> None:
    from ductwork import PipelineController, client
    from ductwork.automation import TaskScheduler
    from ductwork.core.queries import TaskQuery

    pipe = PipelineController(name="numbers", project="sched", version="1.0.0")
    pipe.add_parameter("count", 3)
    pipe.add_function_step("make", function=_make, function_kwargs={"count": "${pipeline.count}"})
    pipe.create_draft()

    scheduler = TaskScheduler(force_create_task_name="nightly", force_create_task_project="sched")
    scheduler.add_task(
        schedule_task_id=pipe.id,
        queue="services",
        minute=SECOND,
        recurring=False,
        task_parameters={"Args/count": "7"},
        task_overrides={"comment": "scheduled"},
    )
    run_for(scheduler, 2.5)
    store = client.backend()
    (run,) = store.query_tasks(TaskQuery(runtime={"scheduled_by": scheduler._task.id}, archived=None))
    assert run.id != pipe.id and run.status == "queued" and run.queue == "services"
    assert run.comment == "scheduled" and run.runtime["schedule"] == pipe.id
    assert PipelineController.get(pipeline_id=run.id).get_parameters() == {"count": 7}
    assert PipelineController.get(pipeline_id=pipe.id).get_parameters() == {"count": 3}


def _make(count: int) -> list[int]:
    return list(range(count))


def test_catch_up_policy_on_missed_slots(home: Path) -> None:
    from datetime import datetime, timedelta

    from ductwork.automation.scheduler import schedule_job

    anchor = datetime(2026, 1, 1, 12, 0, 0)
    started, now = anchor + timedelta(minutes=35), anchor + timedelta(minutes=41)
    state = {"anchor": anchor.isoformat(), "last_slot": (anchor + timedelta(minutes=10)).isoformat()}
    every = {"minute": 10}
    # slots 20 and 30 fell while stopped; 40 falls while running
    all_of_them = schedule_job(schedule_function=lambda: None, when=every, name="a", catch_up=True)
    assert [s.minute for s in all_of_them.due(state, now, started)[0]] == [20, 30, 40]
    newest = schedule_job(schedule_function=lambda: None, when=every, name="b", catch_up=1)
    assert [s.minute for s in newest.due(state, now, started)[0]] == [30, 40]
    assert newest.due(state, now, started)[1] == 1
    none = schedule_job(schedule_function=lambda: None, when=every, name="c", catch_up=False)
    assert [s.minute for s in none.due(state, now, started)[0]] == [40]


def test_bad_input_names_the_argument(home: Path) -> None:
    from ductwork.automation import TaskScheduler

    scheduler = TaskScheduler(force_create_task_name="bad", force_create_task_project="sched")
    with pytest.raises(ValueError, match="schedule_task_id or schedule_function, not both"):
        scheduler.add_task(schedule_task_id="abc", schedule_function=print, queue="q", minute=5)
    with pytest.raises(ValueError, match="minute=75"):
        scheduler.add_task(schedule_function=print, hour=2, minute=75)
    with pytest.raises(ValueError, match="queue is required"):
        scheduler.add_task(schedule_task_id="abc", minute=5)
    with pytest.raises(ValueError, match="weekdays: 'someday'"):
        scheduler.add_task(schedule_function=print, weekdays=["someday"], hour=1)
    with pytest.raises(ValueError, match="catch_up"):
        scheduler.add_task(schedule_function=print, minute=5, catch_up=-1)
    scheduler.add_task(schedule_function=print, minute=5)
    with pytest.raises(ValueError, match="name: a schedule entry named 'print'"):
        scheduler.add_task(schedule_function=print, minute=10)
    assert [j.name for j in scheduler.get_scheduled_tasks()] == ["print"]
    assert scheduler.remove_task(print) and not scheduler.get_scheduled_tasks()


def test_import_is_light() -> None:
    import subprocess
    import sys

    code = (
        "import sys, ductwork.automation, ductwork.automation.controller as c;"
        "names = ('sqlalchemy', 'ductwork.pipelines.controller', 'ductwork.sdk.task');"
        "heavy = [m for m in names if m in sys.modules];"
        "assert not heavy, heavy;"
        "from ductwork.automation.controller import PipelineDecorator;"
        "from ductwork.automation import PipelineController, TaskScheduler, TriggerScheduler;"
        "from ductwork.pipelines.controller import PipelineController as P;"
        "assert PipelineController is P and c.PipelineController is P"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_an_edit_of_the_stored_schedule_is_picked_up_at_the_next_sync(home: Path) -> None:
    import threading

    from tests.automation.conftest import wait_for

    from ductwork import client
    from ductwork.automation import TaskScheduler
    from ductwork.core.records import ConfigObject

    calls: list[int] = []
    scheduler = TaskScheduler(0.3 / 60, force_create_task_name="edited", force_create_task_project="sched")
    scheduler.add_task(schedule_function=lambda: calls.append(1), name="rare", day=1, hour=3)
    thread = threading.Thread(target=scheduler.start, daemon=True)
    thread.start()
    backend = client.backend()
    wait_for(lambda: "schedule" in backend.get_configurations(scheduler._task.id), 10)
    (stored,) = json.loads(backend.get_configurations(scheduler._task.id)["schedule"].text)
    assert stored["day"] == 1 and stored["base_function"].endswith("<lambda>")
    edited = {**stored, "day": None, "hour": None, "minute": SECOND}
    backend.set_configuration(scheduler._task.id, "schedule", ConfigObject(json.dumps([edited]), "json"))
    wait_for(lambda: len(calls) >= 2, 10)
    scheduler.stop()
    thread.join(10)
    (entry,) = scheduler.get_scheduled_tasks()
    assert entry.timing.minute == SECOND and entry.timing.day is None
