"""The Schedules page in a real browser (Debian's chromium, driven by playwright; the launch
options of tests/e2e/browser): a live scheduler shows as alive with its heartbeat, its entry's
last launch as what it really is (here stopped by limit_execution_time, with the reason, counted
in Over limit), and once its loop ends the same page shows it as not running although its
task still says in_progress. The server is `ductwork ui`'s: a thread over the same home."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.automation.conftest import running, saved_state, wait_for

pytestmark = [pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SECOND, SECONDS = 1 / 60, 1 / 3600  # minute=SECOND: every second; limit_execution_time=SECONDS


@pytest.fixture
def web(server_store: Any, home: Path) -> Iterator[str]:
    """The web UI on a loopback port (no logins, as `ductwork ui`); its base URL."""
    import uvicorn

    from ductwork.server.app import create_app

    app = create_app(store=server_store, auth=False, artifacts_uri=str(home / "artifacts"))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(15)


@pytest.fixture
def page() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/test does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        opened = browser.new_page(viewport={"width": 1600, "height": 900})
        errors: list[str] = []
        opened.on("pageerror", lambda exc: errors.append(str(exc)))
        yield opened
        browser.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def test_the_page_shows_a_live_loop_a_stopped_overrun_and_then_a_dead_loop(
    web: str, page: Any, tmp_path: Path
) -> None:
    from ductwork import client
    from ductwork.automation import TaskScheduler
    from ductwork.core.records import TaskRecord

    backend = client.backend()
    base = backend.create_task(TaskRecord(name="overruns", project=backend.ensure_project("sched").id))
    scheduler = TaskScheduler(force_create_task_name="nightly", force_create_task_project="sched")
    scheduler.add_task(
        schedule_task_id=base.id,
        queue="nobody serves",
        name="once",
        minute=SECOND,
        recurring=False,
        limit_execution_time=SECONDS,
    )
    own = scheduler._task.id
    section = f'section[data-scheduler="{own}"]'
    row = f'{section} tr[data-entry="once"]'
    with running(scheduler):
        wait_for(lambda: saved_state(own).get("once", {}).get("timed_out"), 15)
        page.goto(f"{web}/schedulers")
        assert page.inner_text(f"{section} .loop").lower() == "alive"  # styled upper-case
        assert page.inner_text(f"{section} .heartbeat").startswith("heartbeat ")
        launch = page.locator(f"{row} td.launch")
        assert launch.get_attribute("data-launch") == "stopped"
        assert launch.get_attribute("data-active") == "no"
        assert "limit_execution_time: still queued" in launch.inner_text()
        assert page.inner_text(f"{row} td.timed-out") == "1"
        page.screenshot(path=str(tmp_path / "alive.png"), full_page=True)
    page.reload()
    assert page.inner_text(f"{section} .loop").lower() == "not running"
    assert page.inner_text(f"{section} .heartbeat") == "no heartbeat: its loop is not running"
    assert "in_progress" in page.inner_text(f"{section} h2").lower()  # what the task alone still says
    page.screenshot(path=str(tmp_path / "stopped.png"), full_page=True)
