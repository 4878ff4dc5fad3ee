"""Reported values and console lines, written in batches; the cache lookup."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from ductwork.core.queries import EventQuery
from ductwork.core.records import ConsoleLine, MetricEvent, TaskRecord
from ductwork.server.api.deps import Json, hub, record, records, user
from ductwork.server.services import locations, permissions
from ductwork.server.services.hub import Hub

router = APIRouter(prefix="/api", tags=["metrics"])


@router.post("/metrics", status_code=204)
async def add_events(events: list[MetricEvent], request: Request, h: Hub = Depends(hub)) -> None:
    locations.check_events(h.storage, events)  # an image's stored picture: 422 unless readable
    caller = user(request)

    def write() -> None:
        permissions.require_tasks(h.store, caller, "write to", (e.task_id for e in events))
        h.store.add_events(events)

    await run_in_threadpool(write)


@router.post("/metrics/query", response_model=list[MetricEvent])
async def get_events(query: EventQuery, h: Hub = Depends(hub)) -> Json:
    return records(await run_in_threadpool(h.store.get_events, query))


@router.post("/console", status_code=204)
async def add_console(lines: list[ConsoleLine], request: Request, h: Hub = Depends(hub)) -> None:
    caller = user(request)

    def write() -> None:
        permissions.require_tasks(h.store, caller, "write to", (line.task_id for line in lines))
        h.store.add_console(lines)

    await run_in_threadpool(write)


@router.get("/cache", response_model=TaskRecord | None)
async def find_cached(key: str, h: Hub = Depends(hub)) -> Json:
    """The newest completed, non-archived task with runtime `cache_key` = `key`, or null."""
    return record(await run_in_threadpool(h.store.find_cached, key))
