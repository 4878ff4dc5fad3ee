"""The Schedules page in Chromium: a real TaskScheduler (in this process, on the server's home)
fires a one-second interval; the page, reached from the navigation, shows its next and last
firing, and its last task links to that task's page."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from browser_helpers import Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SECOND = 1 / 60  # minute=SECOND: an interval of one second


@pytest.fixture
def ran_scheduler(server: Server) -> Iterator[str]:
    """The id of a scheduler task that cloned its base task for a few seconds, then stopped."""
    from ductwork import client
    from ductwork.automation import TaskScheduler
    from ductwork.core.records import TaskRecord
    from ductwork.sdk import current

    backend = client.backend()
    base = backend.create_task(TaskRecord(name="nightly base", project=backend.ensure_project("sched").id))
    scheduler = TaskScheduler(force_create_task_name="every second", force_create_task_project="sched")
    scheduler.add_task(schedule_task_id=base.id, queue="services", minute=SECOND, name="tick")
    thread = threading.Thread(target=scheduler.start, daemon=True)
    thread.start()
    time.sleep(2.5)
    scheduler.stop()
    thread.join(10)
    yield scheduler._task.id
    main = current.main_task()
    if main is not None and not main._closed:
        main.close()
    current.set_main(None)


def test_the_schedules_page_shows_next_and_last_firing(page: Any, server: Server, ran_scheduler: str) -> None:
    from ductwork.server.services import views

    (expected,) = views.schedulers_view(server.store)
    (tick,) = expected.entries
    page.goto(f"{server.url}/queues")
    page.get_by_role("link", name="Schedules").click()
    page.wait_for_url(f"{server.url}/schedulers")
    row = page.locator("tr[data-entry='tick']")
    assert row.locator("td.next").inner_text() == tick.next
    assert row.locator("td.last").inner_text() == tick.last
    assert tick.next.endswith(" UTC") and tick.last.endswith(" UTC") and tick.fired
    assert (
        page.locator(f"section[data-scheduler='{ran_scheduler}'] h2").inner_text().startswith("every second")
    )
    row.get_by_role("link", name="nightly base").click()
    page.wait_for_url(f"{server.url}/tasks/{tick.last_task}")
