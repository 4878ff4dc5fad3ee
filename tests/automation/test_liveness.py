"""`GET /api/schedulers` says whether a scheduler's loop really runs (its heartbeat, not its
task's status) and what each entry's last launch is really doing (queued, running while
whatever runs it beats, finished with which status and message). Then the attacks: hostile
values in a scheduler's task (its owner, its state) and in a launched task's status message
never break the API or the page, never make a dead loop look alive, and never make the
scheduler stop a task it did not launch."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient
from tests.automation.conftest import run_for, running, saved_state, wait_for

SECOND = 1 / 60  # minute=SECOND: an interval of one second


def _app(store: Any, tmp_path: Path) -> Any:
    from ductwork.server.app import create_app

    return create_app(store=store, auth=False, artifacts_uri=str(tmp_path / "artifacts"))


def _shown(web: TestClient, scheduler_id: str) -> dict[str, Any]:
    answer = web.get("/api/schedulers")
    assert answer.status_code == 200, answer.text
    return next(s for s in answer.json() if s["id"] == scheduler_id)


def _entry(web: TestClient, scheduler_id: str, name: str) -> dict[str, Any]:
    return next(e for e in _shown(web, scheduler_id)["entries"] if e["name"] == name)


def _launch(entry: dict[str, Any]) -> tuple[str, bool, str]:
    return entry["last_launch"], entry["last_active"], entry["last_note"]


def _scheduler_with_a_launch(queue: str) -> tuple[Any, str]:
    """A scheduler whose entry `once` launches a clone of a fresh task once, a second in."""
    from ductwork import client
    from ductwork.automation import TaskScheduler
    from ductwork.core.records import TaskRecord

    backend = client.backend()
    base = backend.create_task(TaskRecord(name="base", project=backend.ensure_project("sched").id))
    scheduler = TaskScheduler(force_create_task_name="watched", force_create_task_project="sched")
    scheduler.add_task(schedule_task_id=base.id, queue=queue, name="once", minute=SECOND, recurring=False)
    return scheduler, base.id


def test_the_api_tells_a_live_loop_and_a_live_launch_from_leftover_statuses(
    server_store: Any, tmp_path: Path
) -> None:
    from ductwork import client
    from ductwork.core.records import Worker

    backend = client.backend()
    scheduler, _ = _scheduler_with_a_launch("work")
    own = scheduler._task.id
    with TestClient(_app(server_store, tmp_path)) as web, running(scheduler):
        task_id = wait_for(lambda: saved_state(own).get("once", {}).get("last_task"), 10)
        wait_for(lambda: _entry(web, own, "once")["last_launch"] == "queued", 10)
        shown = _shown(web, own)
        assert shown["running"] is True and shown["heartbeat"].startswith("heartbeat ")
        assert shown["heartbeat_age"] >= 0 and shown["status"] == "in_progress"
        assert _launch(_entry(web, own, "once")) == ("queued", True, "on work")

        backend.register_worker(Worker(id="agent-1", queues=["work"]))
        wait_for(lambda: backend.claim(["work"], "agent-1"), 10)
        backend.heartbeat("agent-1", task_id)
        assert _launch(_entry(web, own, "once")) == ("running", True, "")

        silent = Worker(id="agent-1", queues=["work"], task_id=task_id, heartbeat=time.time() - 3600)
        backend.register_worker(silent)  # its agent stopped beating an hour ago
        state, active, note = _launch(_entry(web, own, "once"))
        assert (state, active) == ("running", False) and note.startswith("no heartbeat for ")

        backend.set_status(task_id, "failed", message="it broke")
        assert _launch(_entry(web, own, "once")) == ("failed", False, "it broke")
        backend.delete_task(task_id)
        assert _launch(_entry(web, own, "once")) == ("deleted", False, "")
    with TestClient(_app(server_store, tmp_path)) as web:
        shown = _shown(web, own)
    assert (shown["status"], shown["running"]) == ("in_progress", False)
    assert shown["heartbeat"] == "no heartbeat: its loop is not running"


def _stopped_scheduler() -> tuple[str, str]:
    """A scheduler that ran a second (entry `once` launched a task) and a function entry."""
    scheduler, _ = _scheduler_with_a_launch("held")
    scheduler.add_task(schedule_function=print, name="call", minute=SECOND, recurring=False)
    run_for(scheduler, 1.5)
    return scheduler._task.id, str(saved_state(scheduler._task.id)["once"]["last_task"])


HOSTILE = "<script>window.pwned = 1</script><img src=x onerror=alert(1)>"


def test_a_hostile_owner_never_makes_a_dead_loop_alive_nor_breaks_the_api(
    server_store: Any, tmp_path: Path
) -> None:
    from ductwork import client
    from ductwork.core.records import Worker

    backend = client.backend()
    own, _ = _stopped_scheduler()
    record = backend.get_task(own)
    here = socket.gethostname()
    owners: list[Any] = [
        {"pid": "not a pid", "started": "not a time", "host": here},
        {"pid": 10**30, "started": record.started, "host": here, "start": "x"},
        {"pid": -1, "started": record.started, "host": here},
        {"pid": os.getpid(), "started": record.started, "host": here},  # alive, but nothing beats
        [1, 2, 3],
        HOSTILE,
        {"pid": {"nested": [[[]]]}, "started": [], "host": {}, "worker": 7},
    ]
    with TestClient(_app(server_store, tmp_path)) as web:
        for owner in owners:
            backend.edit_task(own, {"runtime": {**record.runtime, "_owner": owner}})
            shown = _shown(web, own)
            assert shown["running"] is False, owner
            page = web.get("/schedulers", headers={"Accept": "text/html"})
            assert page.status_code == 200 and "<script>window.pwned" not in page.text
        # a worker beating for it does not make a stopped scheduler's loop alive
        backend.register_worker(Worker(id="w", queues=[], task_id=own))
        backend.set_status(own, "stopped", force=True)
        shown = _shown(web, own)
        assert (shown["running"], shown["heartbeat"]) == (False, "its task is stopped")


def test_hostile_state_and_status_messages_are_shown_as_text_never_as_markup(
    server_store: Any, tmp_path: Path
) -> None:
    from ductwork import client
    from ductwork.core.records import ConfigObject

    backend = client.backend()
    own, launched = _stopped_scheduler()
    state = saved_state(own)
    state["once"].update(last_skip=HOSTILE, timed_out="many")
    state["call"].update(last_call=HOSTILE * 50, last_skip={"why": HOSTILE})
    backend.set_configuration(own, "state", ConfigObject(json.dumps(state), "json"))
    backend.set_status(launched, "stopped", message=HOSTILE + "x" * 5000, force=True)
    with TestClient(_app(server_store, tmp_path)) as web:
        once, call = _entry(web, own, "once"), _entry(web, own, "call")
        page = web.get("/schedulers", headers={"Accept": "text/html"})
    assert (once["last_skip"], once["timed_out"]) == ("invalid", None)
    assert once["last_launch"] == "stopped" and once["last_note"].startswith(HOSTILE)
    assert len(once["last_note"]) <= 200
    assert (call["last_launch"], call["last_skip"]) == ("lost", HOSTILE) and len(call["last_note"]) <= 200
    assert page.status_code == 200
    assert "<script>window.pwned" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;window.pwned" in page.text


def test_a_scheduler_never_stops_a_task_its_edited_state_names(home: Path) -> None:
    from ductwork import client
    from ductwork.automation import TaskScheduler
    from ductwork.core.records import ConfigObject, TaskRecord

    backend = client.backend()
    victim = backend.create_task(TaskRecord(name="someone else's"))
    backend.ensure_queue("theirs")
    backend.enqueue(victim.id, "theirs")
    calls: list[int] = []
    scheduler = TaskScheduler(force_create_task_name="edited state", force_create_task_project="sched")
    scheduler.add_task(schedule_function=lambda: calls.append(1), name="tick", minute=SECOND)
    past = {"at": "2000-01-01T00:00:00", "hours": 1}
    hostile = {
        "tick": {"deadlines": {victim.id: past, "no such task": past, "x": "not a deadline"}},
        "other": {"deadlines": {victim.id: past}},
        "not an object": [1, 2],
    }
    backend.set_configuration(scheduler._task.id, "state", ConfigObject(json.dumps(hostile), "json"))
    run_for(scheduler, 2.5)
    assert backend.get_task(victim.id).status == "queued"
    assert calls, "the loop went on firing"
    kept = saved_state(scheduler._task.id)
    assert not kept["tick"].get("deadlines") and not kept["other"].get("deadlines")
