"""Schedulers (TaskScheduler, TriggerScheduler) and their entries, as the Schedules page shows
them: read by anyone who may read tasks (the same rule as the page and `GET /api/tasks`)."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from ductwork.server.api.deps import Json, hub, user
from ductwork.server.services import permissions, views
from ductwork.server.services.hub import Hub

router = APIRouter(prefix="/api", tags=["schedulers"])


@router.get("/schedulers")
async def list_schedulers(request: Request, h: Hub = Depends(hub)) -> Json:
    """Every scheduler, newest change first, each with its entries' next and last firings."""
    permissions.require(user(request), "read", noun="schedulers")
    found = await run_in_threadpool(views.schedulers_view, h.store)
    return Json([asdict(s) for s in found])
