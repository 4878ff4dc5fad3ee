"""`single_instance=True` on a real clock with one-second slots (ClearML: a slot whose last
launch is still queued or running is skipped, not tried again later): each skip is counted with
its reason, the CLI shows it, and the slot after the last launch ends launches again, also
across a restart of the scheduler (SIGKILL, then the same script again)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from tests.automation.conftest import running, saved_state, wait_for

SECOND = 1 / 60  # minute=SECOND: an interval of one second


def _base() -> str:
    from ductwork import client
    from ductwork.core.records import TaskRecord

    backend = client.backend()
    return backend.create_task(TaskRecord(name="job", project=backend.ensure_project("sched").id)).id


def _launched(entry: str) -> list[Any]:
    from ductwork import client
    from ductwork.core.queries import TaskQuery

    return client.backend().query_tasks(
        TaskQuery(runtime={"schedule": entry}, archived=None, order_by="created")
    )


def _skipped(scheduler_id: str, entry: str) -> int:
    return int(saved_state(scheduler_id).get(entry, {}).get("skipped", 0))


def _listed(entry: str) -> dict[str, Any]:
    from ductwork.automation.commands import scheduler as command

    shown = CliRunner().invoke(command, ["list", "--json"])
    assert shown.exit_code == 0, shown.output
    return next(row for row in json.loads(shown.output) if row["entry"] == entry)


def test_slots_are_skipped_while_the_last_task_is_queued_or_running(home: Path) -> None:
    from ductwork import client
    from ductwork.automation import TaskScheduler

    backend = client.backend()
    scheduler = TaskScheduler(force_create_task_name="single", force_create_task_project="sched")
    scheduler.add_task(
        schedule_task_id=_base(), queue="held", name="tick", minute=SECOND, single_instance=True
    )
    own = scheduler._task.id
    with running(scheduler):
        (first,) = wait_for(lambda: _launched("tick"), 10)
        wait_for(lambda: _skipped(own, "tick") >= 1, 10)  # queued: the next slot passes
        listed = _listed("tick")
        assert (listed["last_launch"], listed["last_active"], listed["alive"]) == ("queued", True, True)
        claimed = wait_for(lambda: backend.claim(["held"], "test-worker"), 10)
        assert claimed.id == first.id
        seen = _skipped(own, "tick")
        wait_for(lambda: _skipped(own, "tick") > seen, 10)  # running: still passed over
        assert [t.id for t in _launched("tick")] == [first.id]
        backend.set_status(first.id, "completed")
        wait_for(lambda: len(_launched("tick")) == 2, 10)  # ended: the next slot launches
    state = saved_state(own)["tick"]
    assert state["last_skip"]["why"] == f"single_instance: task {first.id} is still queued or running"
    assert state["fired"] == len(_launched("tick")) and state["skipped"] >= 2
    listed = _listed("tick")
    assert listed["skipped"] == state["skipped"] and listed["last_skip"] == state["last_skip"]["why"]
    assert listed["alive"] is False  # stopped: the loop no longer beats


def test_a_function_is_not_called_again_while_its_last_call_runs(home: Path) -> None:
    from ductwork.automation import TaskScheduler

    gate = threading.Event()
    calls: list[int] = []

    def slow() -> None:
        calls.append(1)
        gate.wait(20)

    scheduler = TaskScheduler(force_create_task_name="single call", force_create_task_project="sched")
    scheduler.add_task(schedule_function=slow, name="slow", minute=SECOND, single_instance=True)
    own = scheduler._task.id
    with running(scheduler):
        wait_for(lambda: _skipped(own, "slow") >= 1, 10)
        assert len(calls) == 1 and saved_state(own)["slow"]["last_call"] == "running"
        assert _listed("slow")["last_launch"] == "running"
        gate.set()
        wait_for(lambda: len(calls) >= 2, 10)
        wait_for(lambda: saved_state(own)["slow"]["last_call"] == "returned", 10)
    assert saved_state(own)["slow"]["last_skip"]["why"] == "single_instance: its last call still runs"


SCRIPT = """
import sys
from ductwork.automation import TaskScheduler

scheduler = TaskScheduler(force_create_task_name="single restarts", force_create_task_project="sched")
scheduler.add_task(
    schedule_task_id=sys.argv[1], queue="held", name="tick", minute=1 / 60, single_instance=True
)
scheduler.start()
"""


@pytest.fixture
def scheduler_process(home: Path, tmp_path: Path) -> Iterator[Any]:
    """Start the SCRIPT scheduler as a process of its own; each one is killed at the end."""
    script = tmp_path / "scheduler.py"
    script.write_text(textwrap.dedent(SCRIPT))
    started: list[subprocess.Popen[bytes]] = []

    def start(base: str) -> subprocess.Popen[bytes]:
        env = {**os.environ, "DUCTWORK_HOME": str(home)}
        started.append(subprocess.Popen([sys.executable, str(script), base], env=env))
        return started[-1]

    yield start
    for process in started:
        process.kill()
        process.wait(10)


def test_single_instance_holds_across_a_restart(scheduler_process: Any) -> None:
    from ductwork import client
    from ductwork.core.queries import TaskQuery

    backend = client.backend()
    base = _base()
    first_process = scheduler_process(base)
    (first,) = wait_for(lambda: _launched("tick"), 30)
    own = wait_for(lambda: backend.query_tasks(TaskQuery(system_tags=["scheduler"], archived=None)), 10)[0].id
    wait_for(lambda: _skipped(own, "tick") >= 1, 10)
    first_process.send_signal(signal.SIGKILL)
    first_process.wait(10)
    assert _listed("tick")["alive"] is False  # its task still says in_progress; its process died

    before = _skipped(own, "tick")
    scheduler_process(base)
    wait_for(lambda: _listed("tick")["alive"], 30)
    wait_for(lambda: _skipped(own, "tick") > before, 30)  # the first task is still queued
    assert [t.id for t in _launched("tick")] == [first.id]
    wait_for(lambda: backend.claim(["held"], "test-worker"), 10)
    backend.set_status(first.id, "completed")
    second = wait_for(lambda: _launched("tick")[1:], 30)[0]
    assert second.runtime["slot"] > first.runtime["slot"] and second.id != first.id
    wait_for(lambda: backend.get_task(second.id).status == "queued", 10)
    assert len(_launched("tick")) == 2  # queued again: the slots after it pass over


def test_a_trigger_skips_an_event_while_its_last_call_runs(home: Path) -> None:
    from ductwork import client
    from ductwork.automation import TriggerScheduler
    from ductwork.core.records import TaskRecord

    backend = client.backend()
    gate = threading.Event()
    seen: list[str] = []

    def slow(task_id: str) -> None:
        seen.append(task_id)
        gate.wait(20)

    triggers = TriggerScheduler(
        0.2 / 60, force_create_task_name="single trigger", force_create_task_project="sched"
    )
    triggers.add_task_trigger(
        schedule_function=slow,
        name="done",
        trigger_project="watched",
        trigger_on_status=["completed"],
        single_instance=True,
    )
    own = triggers._task.id
    watched = backend.ensure_project("watched").id
    with running(triggers):
        wait_for(lambda: "since" in saved_state(own).get("done", {}), 10)  # it watches from then on
        first = backend.create_task(TaskRecord(name="a", project=watched, status="completed"))
        wait_for(lambda: seen, 10)
        second = backend.create_task(TaskRecord(name="b", project=watched, status="completed"))
        wait_for(lambda: _skipped(own, "done") == 1, 10)
        gate.set()
    state = saved_state(own)["done"]
    assert seen == [first.id] and state["fired"] == 1 and second.id in state["handled"]
    assert state["last_skip"]["event"] == second.id
    assert state["last_skip"]["why"] == "single_instance: its last call still runs"
    assert _listed("done")["last_skip"] == "single_instance: its last call still runs"
