"""Tasks and what hangs off them: status, parameters, configuration, console, models, artifacts.

The caller's user is recorded on every task it creates or clones (`TaskRecord.user`); a
client cannot claim to be someone else by sending a `user` field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from ductwork.core.queries import TaskQuery
from ductwork.core.records import (
    ArtifactRecord,
    ConfigObject,
    ConsoleLine,
    Param,
    TaskModel,
    TaskRecord,
    to_dict,
)
from ductwork.server.api.deps import Json, hub, record, records, require, user_name
from ductwork.server.services import locations, runs
from ductwork.server.services.hub import Hub

router = APIRouter(prefix="/api/tasks", tags=["tasks"])


@dataclass
class Ids:
    ids: list[str]


@dataclass
class StatusChange:
    status: str
    message: str = ""
    reason: str = ""
    force: bool = False
    expect: list[str] | None = None


@dataclass
class CloneOptions:
    name: str | None = None
    project: str | None = None
    parent: str | None = None


@dataclass
class Parameters:
    params: dict[str, Param] = field(default_factory=dict)
    replace: bool = False


@dataclass
class NamedConfig:
    name: str
    text: str = ""
    type: str = "dictionary"
    description: str = ""


@router.post("", response_model=TaskRecord)
async def create_task(task: TaskRecord, request: Request, h: Hub = Depends(hub)) -> Json:
    task.user = user_name(request)
    created = await run_in_threadpool(h.store.create_task, task)
    h.touched()
    return record(created)


@router.post("/get", response_model=list[TaskRecord])
async def get_tasks(body: Ids, h: Hub = Depends(hub)) -> Json:
    return records(await run_in_threadpool(h.store.get_tasks, body.ids))


@router.post("/query", response_model=list[TaskRecord])
async def query_tasks(query: TaskQuery, h: Hub = Depends(hub)) -> Json:
    return records(await run_in_threadpool(h.store.query_tasks, query))


@router.post("/count", response_model=int)
async def count_tasks(query: TaskQuery, h: Hub = Depends(hub)) -> Json:
    return Json(await run_in_threadpool(h.store.count_tasks, query))


@router.get("/{task_id}", response_model=TaskRecord)
async def get_task(task_id: str, h: Hub = Depends(hub)) -> Json:
    return record(await run_in_threadpool(h.store.get_task, task_id))


@router.patch("/{task_id}", response_model=TaskRecord)
async def edit_task(task_id: str, changes: dict[str, Any], h: Hub = Depends(hub)) -> Json:
    require("user" not in changes, "a task's user is recorded by the server and cannot be edited")
    edited = await run_in_threadpool(h.store.edit_task, task_id, changes)
    h.touched()
    return record(edited)


@router.delete("/{task_id}", status_code=204)
async def delete_task(task_id: str, h: Hub = Depends(hub)) -> None:
    await run_in_threadpool(h.store.delete_task, task_id)
    h.touched()


@router.post("/{task_id}/status", response_model=TaskRecord)
async def set_status(task_id: str, change: StatusChange, h: Hub = Depends(hub)) -> Json:
    task = await run_in_threadpool(
        lambda: h.set_status(
            task_id,
            change.status,
            message=change.message,
            reason=change.reason,
            force=change.force,
            expect=change.expect,
        )
    )
    return record(task)


@router.post("/{task_id}/reset", response_model=TaskRecord)
async def reset_task(task_id: str, h: Hub = Depends(hub)) -> Json:
    task = await run_in_threadpool(h.store.reset_task, task_id)
    h.touched()
    return record(task)


@router.post("/{task_id}/clone", response_model=TaskRecord)
async def clone_task(task_id: str, options: CloneOptions, request: Request, h: Hub = Depends(hub)) -> Json:
    def clone() -> TaskRecord:
        copy: TaskRecord = h.store.clone_task(
            task_id, name=options.name, project=options.project, parent=options.parent
        )
        edited: TaskRecord = h.store.edit_task(copy.id, {"user": user_name(request)})
        return edited

    task = await run_in_threadpool(clone)
    h.touched()
    return record(task)


@router.post("/{task_id}/abort", response_model=TaskRecord)
async def abort_task(task_id: str, request: Request, h: Hub = Depends(hub)) -> Json:
    """Stop a queued or running task; its agent kills the process tree when it sees `stopped`."""
    return record(await run_in_threadpool(lambda: runs.abort_task(h, task_id, user=user_name(request))))


@router.post("/{task_id}/dequeue", status_code=204)
async def dequeue(task_id: str, h: Hub = Depends(hub)) -> None:
    await run_in_threadpool(h.store.dequeue, task_id)
    h.touched()


# -- parameters and configuration ---------------------------------------------------------


@router.put("/{task_id}/parameters", status_code=204)
async def set_parameters(task_id: str, body: Parameters, h: Hub = Depends(hub)) -> None:
    await run_in_threadpool(lambda: h.store.set_parameters(task_id, body.params, replace=body.replace))


@router.get("/{task_id}/parameters", response_model=dict[str, Param])
async def get_parameters(task_id: str, h: Hub = Depends(hub)) -> Json:
    params = await run_in_threadpool(h.store.get_parameters, task_id)
    return Json({key: to_dict(p) for key, p in params.items()})


@router.put("/{task_id}/configuration", status_code=204)
async def set_configuration(task_id: str, body: NamedConfig, h: Hub = Depends(hub)) -> None:
    config = ConfigObject(text=body.text, type=body.type, description=body.description)
    await run_in_threadpool(h.store.set_configuration, task_id, body.name, config)


@router.get("/{task_id}/configuration", response_model=dict[str, ConfigObject])
async def get_configurations(task_id: str, h: Hub = Depends(hub)) -> Json:
    configs = await run_in_threadpool(h.store.get_configurations, task_id)
    return Json({key: to_dict(c) for key, c in configs.items()})


# -- console, models, artifact records ----------------------------------------------------


@router.get("/{task_id}/console", response_model=list[ConsoleLine])
async def get_console(
    task_id: str,
    # `seq` is a 32-bit column; a page holds at most a million lines.
    after: int = Query(0, ge=0, le=2**31 - 1),
    limit: int | None = Query(None, ge=0, le=1_000_000),
    h: Hub = Depends(hub),
) -> Json:
    return records(await run_in_threadpool(lambda: h.store.get_console(task_id, after=after, limit=limit)))


@router.post("/{task_id}/models", status_code=204)
async def attach_model(task_id: str, link: TaskModel, h: Hub = Depends(hub)) -> None:
    require(link.task_id == task_id, f"the link names task {link.task_id}, the path task {task_id}")
    await run_in_threadpool(h.store.attach_model, link)


@router.get("/{task_id}/models", response_model=list[TaskModel])
async def get_task_models(task_id: str, h: Hub = Depends(hub)) -> Json:
    return records(await run_in_threadpool(h.store.get_task_models, task_id))


@router.put("/{task_id}/artifacts", status_code=204)
async def put_artifact(task_id: str, artifact: ArtifactRecord, h: Hub = Depends(hub)) -> None:
    require(
        artifact.task_id == task_id, f"the artifact names task {artifact.task_id}, the path task {task_id}"
    )
    locations.check_artifact(h.storage, artifact)  # 422 for a location the server would not read
    await run_in_threadpool(h.store.put_artifact, artifact)


@router.get("/{task_id}/artifacts", response_model=list[ArtifactRecord])
async def get_artifacts(task_id: str, h: Hub = Depends(hub)) -> Json:
    return records(await run_in_threadpool(h.store.get_artifacts, task_id))


@router.delete("/{task_id}/artifacts/{name:path}", status_code=204)
async def delete_artifact(task_id: str, name: str, h: Hub = Depends(hub)) -> None:
    await run_in_threadpool(h.store.delete_artifact, task_id, name)
