"""Health (no auth) and who the caller is."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

import ductwork
from ductwork.server.api.deps import Json, hub, user
from ductwork.server.services.hub import Hub

router = APIRouter(prefix="/api", tags=["system"])


@router.get("/health")
async def health(h: Hub = Depends(hub)) -> Json:
    """Liveness for load balancers and scripts; reachable without an API key."""
    return Json({"status": "ok", "version": ductwork.__version__, "auth": h.auth})


@router.get("/whoami")
async def whoami(request: Request) -> Json:
    caller = user(request)
    return Json({"name": getattr(caller, "name", ""), "admin": bool(getattr(caller, "admin", False))})
