"""The Schedules page's read model and `GET /api/schedulers` over a real scheduler: a
TaskScheduler on the embedded store runs a one-second interval that clones a base task, and the
server (its own Store over the same home) shows each entry's rule, firings and last task."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient
from tests.automation.conftest import run_for, wait_for

SECOND = 1 / 60  # minute=SECOND: an interval of one second


def _ran_scheduler() -> tuple[str, str]:
    """A scheduler that cloned its base task twice or more; its task id and the base's."""
    from ductwork import client
    from ductwork.automation import TaskScheduler
    from ductwork.core.records import TaskRecord

    backend = client.backend()
    base = backend.create_task(TaskRecord(name="base", project=backend.ensure_project("sched").id))
    scheduler = TaskScheduler(force_create_task_name="every second", force_create_task_project="sched")
    scheduler.add_task(schedule_task_id=base.id, queue="services", minute=SECOND, name="tick")
    scheduler.add_task(schedule_function=print, day=1, hour=22, minute=30, name="nightly")
    run_for(scheduler, 2.5)
    return scheduler._task.id, base.id


def test_the_view_shows_each_entry_with_its_firings_and_last_task(server_store: Any) -> None:
    from ductwork.core.queries import TaskQuery
    from ductwork.server.services import views

    scheduler_id, base_id = _ran_scheduler()
    (shown,) = views.schedulers_view(server_store)
    assert (shown.id, shown.name, shown.kind, shown.problem) == (scheduler_id, "every second", "schedule", "")
    assert shown.status == server_store.get_task(scheduler_id).status == "in_progress"
    # its loop ended (stop()): the task still says in_progress, but nothing beats for it
    assert shown.running is False and shown.heartbeat == "no heartbeat: its loop is not running"
    tick, nightly = sorted(shown.entries, key=lambda e: e.name != "tick")
    assert tick.rule == "every 1 s" and tick.fires == base_id
    assert tick.fired is not None and tick.fired >= 2 and tick.skipped == 0
    assert tick.next.endswith(" UTC") and tick.last.endswith(" UTC") and tick.next > tick.last
    started = server_store.query_tasks(TaskQuery(runtime={"scheduled_by": scheduler_id}, archived=None))
    assert tick.last_task in {t.id for t in started} and tick.last_task_name == "base"
    assert (tick.last_launch, tick.last_active, tick.last_note) == ("queued", True, "on services")
    assert nightly.rule == "every 1 day, hour 22, minute 30" and nightly.fires == "print()"
    assert (nightly.last, nightly.fired, nightly.last_task) == ("", 0, "")
    assert nightly.next.endswith("22:30:00 UTC")


def test_the_api_and_the_page_give_the_same_entries(server_store: Any, tmp_path: Path) -> None:
    from ductwork.server.app import create_app

    scheduler_id, _ = _ran_scheduler()
    app = create_app(store=server_store, auth=False, artifacts_uri=str(tmp_path / "artifacts"))
    with TestClient(app) as web:
        answer = web.get("/api/schedulers")
        page = web.get("/schedulers", headers={"Accept": "text/html"})
        navigation = web.get("/queues", headers={"Accept": "text/html"})
    assert answer.status_code == 200, answer.text
    (shown,) = answer.json()
    assert shown["id"] == scheduler_id and shown["kind"] == "schedule"
    tick = next(e for e in shown["entries"] if e["name"] == "tick")
    assert page.status_code == 200
    for value in (tick["next"], tick["last"], tick["rule"], f'href="/tasks/{tick["last_task"]}"'):
        assert value in page.text
    assert 'href="/schedulers"' in navigation.text


def test_a_trigger_shows_its_filters_in_words_and_what_it_fired(server_store: Any) -> None:
    from ductwork import client
    from ductwork.automation import TriggerScheduler
    from ductwork.core.records import TaskRecord
    from ductwork.server.services import views

    backend = client.backend()
    seen: list[str] = []
    triggers = TriggerScheduler(0.3 / 60, force_create_task_name="on-done", force_create_task_project="sched")
    triggers.add_task_trigger(
        schedule_function=seen.append, name="done", trigger_project="watched", trigger_on_status=["completed"]
    )
    thread = threading.Thread(target=triggers.start, daemon=True)
    thread.start()
    time.sleep(0.5)
    watched = backend.ensure_project("watched").id
    backend.create_task(TaskRecord(name="a", project=watched, status="completed"))
    wait_for(lambda: seen, 10)
    triggers.stop()
    thread.join(10)
    (shown,) = views.schedulers_view(server_store)
    assert (shown.kind, shown.problem) == ("trigger", "")
    (done,) = shown.entries
    assert done.rule == "when a task changes: project watched, on status completed"
    assert done.next == "on event" and done.fired == 1 and done.last.endswith(" UTC")
