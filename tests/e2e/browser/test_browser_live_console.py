"""The console panel is pushed (issue 15): a live task's log is read when the server says the
task changed, never on a timer while the event stream is open."""

from __future__ import annotations

import time
from typing import Any

import pytest
from browser_helpers import Server

from ductwork.core.records import ConsoleLine, TaskRecord

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_live_console_reads_only_when_told(page: Any, server: Server) -> None:
    store = server.store
    task = store.create_task(TaskRecord(name="talking"))
    store.set_status(task.id, "in_progress", force=True)
    store.add_console([ConsoleLine(task.id, "first line")])
    reads: list[str] = []
    streams: list[str] = []

    def sent(request: Any) -> None:
        if "/console.json" in request.url:
            reads.append(request.url)
        elif "/api/events" in request.url:
            streams.append(request.url)

    page.on("request", sent)
    page.goto(f"{server.url}/tasks/{task.id}?tab=console")
    page.wait_for_selector(".console .line:has-text('first line')")
    deadline = time.monotonic() + 10
    while not streams and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert streams == [f"{server.url}/api/events?task={task.id}"]
    page.wait_for_timeout(1000)  # the stream's opening read is done
    quiet = len(reads)
    page.wait_for_timeout(2500)  # the old panel read every second
    assert len(reads) == quiet, reads  # nothing changed: nothing read
    # Written by another connection of the store, as a local step's process writes it.
    store.add_console([ConsoleLine(task.id, "second line")])
    page.wait_for_selector(".console .line:has-text('second line')", timeout=10_000)
    assert len(reads) == quiet + 1, reads  # one read, for the one change
