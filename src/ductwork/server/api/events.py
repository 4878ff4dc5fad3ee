"""`GET /api/events?run=<id>&task=<id>`: live task and node states as Server-Sent Events."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from ductwork.server.api.deps import hub, require
from ductwork.server.services import live
from ductwork.server.services.hub import Hub

router = APIRouter(prefix="/api", tags=["events"])


@router.get("/events", response_class=StreamingResponse)
async def events(
    request: Request, run: str | None = None, task: str | None = None, h: Hub = Depends(hub)
) -> StreamingResponse:
    """Pushes `task` events (status changes of the run's controller and steps, or of one task)
    and `node` events (the run's step states) as they happen, starting with the current state."""
    require(bool(run or task), "say what to follow: ?run=<controller task id> and/or ?task=<task id>")
    for task_id in (run, task):
        if task_id:
            await run_in_threadpool(h.store.get_task, task_id)  # unknown id: 404 now, not mid-stream
    watch = live.Watch(run=run, task=task)
    return StreamingResponse(
        live.stream(h, watch, request.is_disconnected),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
