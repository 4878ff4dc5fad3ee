"""Reported values and console lines, written in batches; the cache lookup."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from ductwork.core.queries import EventQuery
from ductwork.core.records import ConsoleLine, MetricEvent, TaskRecord
from ductwork.server.api.deps import Json, hub, record, records, user
from ductwork.server.services import locations, permissions
from ductwork.server.services.hub import Hub
from ductwork.server.services.jsontypes import Checked

router = APIRouter(prefix="/api", tags=["metrics"])


@router.post("/metrics", status_code=204)
async def add_events(events: Checked[list[MetricEvent]], request: Request, h: Hub = Depends(hub)) -> None:
    locations.check_events(h.storage, events)  # an image's stored picture: 422 unless readable
    caller = user(request)
    tasks = {e.task_id for e in events}
    # Shares its commit with the other writes waiting meanwhile (services/writes.py).
    await h.events.submit(events, lambda: permissions.require_tasks(h.store, caller, "write to", tasks))


@router.post("/metrics/query", response_model=list[MetricEvent])
async def get_events(query: Checked[EventQuery], h: Hub = Depends(hub)) -> Json:
    return records(await run_in_threadpool(h.store.get_events, query))


@router.post("/console", status_code=204)
async def add_console(lines: Checked[list[ConsoleLine]], request: Request, h: Hub = Depends(hub)) -> None:
    caller = user(request)
    tasks = {line.task_id for line in lines}
    await h.console.submit(lines, lambda: permissions.require_tasks(h.store, caller, "write to", tasks))


@router.get("/cache", response_model=TaskRecord | None)
async def find_cached(key: str, h: Hub = Depends(hub)) -> Json:
    """The newest completed, non-archived task with runtime `cache_key` = `key`, or null."""
    return record(await run_in_threadpool(h.store.find_cached, key))
