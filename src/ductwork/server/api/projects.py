"""Projects: `POST /api/projects` (ensure), `GET /api/projects[?name=]`, `GET /api/projects/{id}`."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from ductwork.core.records import Project
from ductwork.server.api.deps import Json, hub, record, records, user
from ductwork.server.services import permissions
from ductwork.server.services.hub import Hub
from ductwork.server.services.jsontypes import Checked

router = APIRouter(prefix="/api/projects", tags=["projects"])


@dataclass
class ProjectIn:
    name: str
    system_tags: list[str] = field(default_factory=list)


@router.post("", response_model=Project)
async def ensure_project(body: Checked[ProjectIn], request: Request, h: Hub = Depends(hub)) -> Json:
    # Projects are shared folders with no owner: any role that may create may add one.
    permissions.require(user(request), "create", noun="projects")
    return record(await run_in_threadpool(h.store.ensure_project, body.name, body.system_tags))


@router.get("", response_model=list[Project])
async def list_projects(name: str | None = None, h: Hub = Depends(hub)) -> Json:
    if name is not None:
        found = await run_in_threadpool(h.store.find_project, name)
        return records([found] if found is not None else [])
    return records(await run_in_threadpool(h.store.list_projects))


@router.get("/{project_id}", response_model=Project)
async def get_project(project_id: str, h: Hub = Depends(hub)) -> Json:
    return record(await run_in_threadpool(h.store.get_project, project_id))
