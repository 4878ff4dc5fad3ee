"""The live feed is pushed, not polled (issue 15): what wakes it, what it reads, whom it wakes.

Each test asserts on the mechanism, never on a duration: the feed's tick is made 30 s long
where it must not be what delivers (an event that arrives within the test's 10 s read came by
a push), and the feed's count of looks shows it reads nothing while nothing changes.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from ductwork.client.http import HttpBackend
from ductwork.core.records import ConsoleLine, MetricEvent, TaskRecord
from ductwork.server.services import feed as feed_module
from ductwork.store import Store


@pytest.fixture
def http(live_server: Any) -> Iterator[HttpBackend]:
    backend = HttpBackend(live_server.url, live_server.key)
    yield backend
    backend.close()


@contextmanager
def events(live_server: Any, **follow: str) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """The stream's events as they arrive, read on a thread, until the block ends."""
    seen: list[tuple[str, dict[str, Any]]] = []
    first = threading.Event()
    stop = threading.Event()

    def listen() -> None:
        headers = {"Authorization": f"Bearer {live_server.key}"}
        url = f"{live_server.url}/api/events"
        try:
            with httpx.stream("GET", url, params=follow, headers=headers, timeout=10) as answer:
                event = ""
                for line in answer.iter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: "):
                        seen.append((event, json.loads(line[6:])))
                        first.set()
                    if stop.is_set():
                        return
        except httpx.HTTPError:
            if not stop.is_set():  # the server stopping at the test's end closes it
                raise

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    assert first.wait(10), "no first state"
    try:
        yield seen
    finally:
        stop.set()


def wait_for(seen: list[tuple[str, dict[str, Any]]], event: str, **fields: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for name, data in list(seen):
            if name == event and all(data.get(k) == v for k, v in fields.items()):
                return data
        time.sleep(0.01)
    raise AssertionError(f"no {event} {fields} in {seen}")


def slow_tick(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on the feed's own timer fires every 30 s: only a push can deliver in time."""
    monkeypatch.setattr(feed_module, "TICK_S", 30.0)
    time.sleep(0.2)  # the wait in progress (50 ms) ends


def test_a_write_through_the_server_wakes_the_stream_at_once(
    http: HttpBackend, live_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = http.create_task(TaskRecord(name="pushed"))
    slow_tick(monkeypatch)
    with events(live_server, task=task.id) as seen:
        wait_for(seen, "task", id=task.id, status="created")  # the first state
        http.set_status(task.id, "in_progress")
        wait_for(seen, "task", id=task.id, status="in_progress")


def test_new_console_lines_are_announced_to_the_stream(http: HttpBackend, live_server: Any) -> None:
    """The console panel reads on when told (`updated`), instead of every second."""
    task = http.create_task(TaskRecord(name="talking"))
    with events(live_server, task=task.id) as seen:
        wait_for(seen, "task", id=task.id)
        http.add_console([ConsoleLine(task.id, "hello")])
        announced = wait_for(seen, "updated", id=task.id)
    assert announced["updated"] >= task.updated


def test_new_metrics_are_announced_to_the_stream(http: HttpBackend, live_server: Any) -> None:
    """Charts read on when told (`updated`): on PostgreSQL a metric write sends no NOTIFY
    (migration 0007) and the feed's probe finds it; on SQLite data_version moves."""
    task = http.create_task(TaskRecord(name="learning"))
    with events(live_server, task=task.id) as seen:
        wait_for(seen, "task", id=task.id)
        http.add_events([MetricEvent(task.id, "scalar", "loss", "train", 0, 0.5)])
        announced = wait_for(seen, "updated", id=task.id)
    assert announced["updated"] > task.updated


def test_another_writer_of_the_store_reaches_the_stream(live_server: Any, store_url: str) -> None:
    """Another connection (another process: the CLI, an embedded agent) writes the store: seen
    through data_version on SQLite and NOTIFY on PostgreSQL, not a query per tick."""
    other = Store(store_url)
    try:
        run = other.create_task(TaskRecord(name="run", type="controller"))
        step = other.create_task(TaskRecord(name="step", parent=run.id))
        with events(live_server, run=run.id) as seen:
            wait_for(seen, "task", id=step.id, status="created")
            other.set_status(step.id, "in_progress")
            wait_for(seen, "task", id=step.id, status="in_progress")
    finally:
        other.close()


def test_the_feed_reads_nothing_while_nothing_changes(live_server: Any) -> None:
    feed = live_server.app.state.hub.feed
    time.sleep(0.3)  # the server's start-up writes are read
    looks = feed.looks
    time.sleep(0.5)  # ten SQLite ticks; on PostgreSQL ten timeouts of LISTEN
    assert feed.looks == looks


def test_claims_wake_only_for_work_another_process_queued(live_server: Any, store_url: str) -> None:
    """Status changes, console lines and edits by another process do not wake long-poll claims
    (the watcher used to wake every claim on any change); a task it queues wakes one."""
    hub = live_server.app.state.hub
    http = HttpBackend(live_server.url, live_server.key)
    http.ensure_queue("default")
    other = Store(store_url)
    try:
        busy = other.create_task(TaskRecord(name="busy"))
        queued = other.create_task(TaskRecord(name="work"))
        time.sleep(0.3)
        rings = hub.work.generation
        looks = hub.feed.looks
        other.set_status(busy.id, "in_progress")
        other.add_console([ConsoleLine(busy.id, "working")])
        other.edit_task(busy.id, {"comment": "still busy"})
        deadline = time.monotonic() + 10
        while hub.feed.looks == looks and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.2)
        assert hub.feed.looks > looks  # it read those changes...
        assert hub.work.generation == rings  # ...and woke no claim for them
        other.enqueue(queued.id, "default")
        deadline = time.monotonic() + 10
        while hub.work.generation == rings and time.monotonic() < deadline:
            time.sleep(0.01)
        assert hub.work.generation == rings + 1  # one task queued: one ring
        claimed = http.wait_claim(["default"], "w", wait=5)
        assert claimed is not None and claimed.id == queued.id
    finally:
        other.close()
        http.close()


def test_an_enqueue_through_the_server_rings_once(live_server: Any) -> None:
    """The server's own enqueue wakes its claim itself; the feed does not ring again for it."""
    hub = live_server.app.state.hub
    http = HttpBackend(live_server.url, live_server.key)
    try:
        http.ensure_queue("default")
        task = http.create_task(TaskRecord(name="work"))
        time.sleep(0.3)
        rings, looks = hub.work.generation, hub.feed.looks
        http.enqueue(task.id, "default")
        deadline = time.monotonic() + 10
        while hub.feed.looks == looks and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)  # PostgreSQL: the enqueue's NOTIFY too
        assert hub.work.generation == rings + 1
    finally:
        http.close()
