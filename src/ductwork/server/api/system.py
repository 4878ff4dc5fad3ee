"""Health (no auth) and who the caller is."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

import ductwork
from ductwork.server.api.deps import Json, hub, user
from ductwork.server.services import permissions
from ductwork.server.services.hub import Hub

router = APIRouter(prefix="/api", tags=["system"])


@router.get("/health")
async def health(h: Hub = Depends(hub)) -> Json:
    """Liveness for load balancers and scripts; reachable without an API key."""
    return Json({"status": "ok", "version": ductwork.__version__, "auth": h.auth})


@router.get("/storage")
async def storage(h: Hub = Depends(hub)) -> Json:
    """Where this server keeps artifacts, so a client can choose how to send bytes:
    a remote root (s3://...) that the client reaches with its own credentials -> write there
    directly; a local root -> write directly only if the client reads the same `token` in
    `<root>/.ductwork-server` (it sees the same folder); else upload through
    `PUT /api/tasks/{id}/artifacts/{name}/content` (`?root=` the task's output_uri, when it
    has one). `allowed`: the other storage prefixes the server reads (`--allow-storage`); a
    record stored anywhere else is refused."""
    from ductwork.artifacts.locations import is_remote

    token = await run_in_threadpool(h.storage_token)
    return Json(
        {
            "artifacts_root": h.artifacts_root,
            "remote": is_remote(h.artifacts_root),
            "token": token,
            "allowed": list(h.allowed_storage),
        }
    )


@router.get("/whoami")
async def whoami(request: Request) -> Json:
    caller = user(request)
    role = permissions.role_of(caller)
    return Json({"name": getattr(caller, "name", ""), "admin": role == permissions.ADMIN, "role": role})
