"""Tasks and what hangs off them: status, parameters, configuration, console, models, artifacts.

The caller's user is recorded on every task it creates or clones (`TaskRecord.user`); a
client cannot claim to be someone else by sending a `user` field. Every change is checked
against `services.permissions` first: a user changes their own tasks, an admin or an agent
any task, a read-only user none (403 with the reason).
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
from ductwork.server.api.deps import Json, hub, record, records, require, user
from ductwork.server.services import locations, permissions, runs
from ductwork.server.services.hub import Hub
from ductwork.server.services.jsontypes import Checked

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
async def create_task(task: Checked[TaskRecord], request: Request, h: Hub = Depends(hub)) -> Json:
    caller = user(request)
    permissions.require(caller, "create", noun="tasks")

    def create() -> TaskRecord:
        task.user = permissions.owner_for(h.store, caller, task.parent)
        created: TaskRecord = h.store.create_task(task)
        return created

    created = await run_in_threadpool(create)
    h.touched()
    return record(created)


@router.post("/get", response_model=list[TaskRecord])
async def get_tasks(body: Checked[Ids], h: Hub = Depends(hub)) -> Json:
    return records(await run_in_threadpool(h.store.get_tasks, body.ids))


@router.post("/query", response_model=list[TaskRecord])
async def query_tasks(query: Checked[TaskQuery], h: Hub = Depends(hub)) -> Json:
    return records(await run_in_threadpool(h.store.query_tasks, query))


@router.post("/count", response_model=int)
async def count_tasks(query: Checked[TaskQuery], h: Hub = Depends(hub)) -> Json:
    return Json(await run_in_threadpool(h.store.count_tasks, query))


@router.get("/{task_id}", response_model=TaskRecord)
async def get_task(task_id: str, h: Hub = Depends(hub)) -> Json:
    return record(await run_in_threadpool(h.store.get_task, task_id))


@router.patch("/{task_id}", response_model=TaskRecord)
async def edit_task(
    task_id: str, changes: Checked[dict[str, Any]], request: Request, h: Hub = Depends(hub)
) -> Json:
    require("user" not in changes, "a task's user is recorded by the server and cannot be edited")
    caller = user(request)

    def edit() -> TaskRecord:
        permissions.require_task(h.store, caller, "edit", task_id)
        edited: TaskRecord = h.store.edit_task(task_id, changes)
        return edited

    edited = await run_in_threadpool(edit)
    h.touched()
    return record(edited)


@router.delete("/{task_id}", status_code=204)
async def delete_task(task_id: str, request: Request, h: Hub = Depends(hub)) -> None:
    caller = user(request)

    def delete() -> None:
        permissions.require_delete_task(h.store, caller, task_id)
        h.store.delete_task(task_id)

    await run_in_threadpool(delete)
    h.touched()


@router.post("/{task_id}/status", response_model=TaskRecord)
async def set_status(
    task_id: str, change: Checked[StatusChange], request: Request, h: Hub = Depends(hub)
) -> Json:
    caller = user(request)

    def set_it() -> TaskRecord:
        permissions.require_task(h.store, caller, "set the status of", task_id)
        return h.set_status(
            task_id,
            change.status,
            message=change.message,
            reason=change.reason,
            force=change.force,
            expect=change.expect,
        )

    task = await run_in_threadpool(set_it)
    return record(task)


@router.post("/{task_id}/reset", response_model=TaskRecord)
async def reset_task(task_id: str, request: Request, h: Hub = Depends(hub)) -> Json:
    caller = user(request)

    def reset() -> TaskRecord:
        permissions.require_task(h.store, caller, "reset", task_id)
        done: TaskRecord = h.store.reset_task(task_id)
        return done

    task = await run_in_threadpool(reset)
    h.touched()
    return record(task)


@router.post("/{task_id}/clone", response_model=TaskRecord)
async def clone_task(
    task_id: str, options: Checked[CloneOptions], request: Request, h: Hub = Depends(hub)
) -> Json:
    caller = user(request)
    permissions.require(caller, "clone", noun="tasks")

    def clone() -> TaskRecord:
        copy: TaskRecord = h.store.clone_task(
            task_id, name=options.name, project=options.project, parent=options.parent
        )
        # The copy is the caller's (an agent's copy under a parent: the parent's owner's).
        owner = permissions.owner_for(h.store, caller, copy.parent)
        edited: TaskRecord = h.store.edit_task(copy.id, {"user": owner})
        return edited

    task = await run_in_threadpool(clone)
    h.touched()
    return record(task)


@router.post("/{task_id}/abort", response_model=TaskRecord)
async def abort_task(task_id: str, request: Request, h: Hub = Depends(hub)) -> Json:
    """Stop a queued or running task; its agent kills the process tree when it sees `stopped`."""
    caller = user(request)

    def abort() -> TaskRecord:
        permissions.require_task(h.store, caller, "abort", task_id)
        return runs.abort_task(h, task_id, user=permissions.name_of(caller))

    return record(await run_in_threadpool(abort))


@router.post("/{task_id}/dequeue", status_code=204)
async def dequeue(task_id: str, request: Request, h: Hub = Depends(hub)) -> None:
    caller = user(request)

    def take_off() -> None:
        permissions.require_task(h.store, caller, "dequeue", task_id)
        h.store.dequeue(task_id)

    await run_in_threadpool(take_off)
    h.touched()


# -- parameters and configuration ---------------------------------------------------------


@router.put("/{task_id}/parameters", status_code=204)
async def set_parameters(
    task_id: str, body: Checked[Parameters], request: Request, h: Hub = Depends(hub)
) -> None:
    caller = user(request)

    def write() -> None:
        permissions.require_task(h.store, caller, "write to", task_id)
        h.store.set_parameters(task_id, body.params, replace=body.replace)

    await run_in_threadpool(write)


@router.get("/{task_id}/parameters", response_model=dict[str, Param])
async def get_parameters(task_id: str, h: Hub = Depends(hub)) -> Json:
    params = await run_in_threadpool(h.store.get_parameters, task_id)
    return Json({key: to_dict(p) for key, p in params.items()})


@router.put("/{task_id}/configuration", status_code=204)
async def set_configuration(
    task_id: str, body: Checked[NamedConfig], request: Request, h: Hub = Depends(hub)
) -> None:
    config = ConfigObject(text=body.text, type=body.type, description=body.description)
    caller = user(request)

    def write() -> None:
        permissions.require_task(h.store, caller, "write to", task_id)
        h.store.set_configuration(task_id, body.name, config)

    await run_in_threadpool(write)


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
async def attach_model(
    task_id: str, link: Checked[TaskModel], request: Request, h: Hub = Depends(hub)
) -> None:
    require(link.task_id == task_id, f"the link names task {link.task_id}, the path task {task_id}")
    caller = user(request)

    def write() -> None:
        permissions.require_task(h.store, caller, "write to", task_id)
        h.store.attach_model(link)

    await run_in_threadpool(write)


@dataclass
class LinkRename:
    """`link` (as the task has it) is to be put under `name`."""

    link: TaskModel
    name: str


@router.post("/{task_id}/models/rename", status_code=204)
async def rename_model_link(
    task_id: str, rename: Checked[LinkRename], request: Request, h: Hub = Depends(hub)
) -> None:
    link = rename.link
    require(link.task_id == task_id, f"the link names task {link.task_id}, the path task {task_id}")
    caller = user(request)

    def write() -> None:
        permissions.require_task(h.store, caller, "write to", task_id)
        h.store.rename_model_link(link, rename.name)

    await run_in_threadpool(write)


@router.get("/{task_id}/models", response_model=list[TaskModel])
async def get_task_models(task_id: str, h: Hub = Depends(hub)) -> Json:
    return records(await run_in_threadpool(h.store.get_task_models, task_id))


@router.put("/{task_id}/artifacts", status_code=204)
async def put_artifact(
    task_id: str, artifact: Checked[ArtifactRecord], request: Request, h: Hub = Depends(hub)
) -> None:
    require(
        artifact.task_id == task_id, f"the artifact names task {artifact.task_id}, the path task {task_id}"
    )
    locations.check_artifact(h.storage, artifact)  # 422 for a location the server would not read
    caller = user(request)

    def write() -> None:
        permissions.require_task(h.store, caller, "write to", task_id)
        h.store.put_artifact(artifact)

    await run_in_threadpool(write)


@router.get("/{task_id}/artifacts", response_model=list[ArtifactRecord])
async def get_artifacts(task_id: str, h: Hub = Depends(hub)) -> Json:
    return records(await run_in_threadpool(h.store.get_artifacts, task_id))


@router.delete("/{task_id}/artifacts/{name:path}", status_code=204)
async def delete_artifact(task_id: str, name: str, request: Request, h: Hub = Depends(hub)) -> None:
    caller = user(request)

    def write() -> None:
        permissions.require_task(h.store, caller, "write to", task_id)
        h.store.delete_artifact(task_id, name)

    await run_in_threadpool(write)
