"""Queues, their entries, long-poll claims and workers.

Anyone who may create may add a queue (a pipeline adds its steps' queues on demand) and owns
it; deleting a queue is for its owner or an admin. Putting a task on a queue or taking it off
is an action on the task. Claims and workers are for agents and admins only, except the
heartbeat of a user's own controller (`permissions.require_worker`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import ConfigDict
from starlette.concurrency import run_in_threadpool

from ductwork.core.errors import ValidationError
from ductwork.core.records import ConsoleLine, Queue, QueueEntry, TaskRecord, Worker
from ductwork.server.api.deps import Json, hub, record, records, user
from ductwork.server.services import claims, permissions
from ductwork.server.services.hub import Hub
from ductwork.server.services.jsontypes import Checked

router = APIRouter(prefix="/api", tags=["queues"])

MAX_ENQUEUE = 1000  # tasks an enqueue_many call takes (the store's own limit, store.queues.MAX_BATCH)


@dataclass
class QueueIn:
    name: str


@dataclass
class EntryIn:
    task_id: str
    priority: int = 0


@dataclass
class EntriesIn:
    queue: str
    task_ids: list[str]
    priority: int = 0


@dataclass
class ClaimEnd:
    # A key that is no argument of end_claim (`force`, say) is refused, not dropped: an end is
    # recorded exactly as said or not at all, as the store refuses it.
    __pydantic_config__ = ConfigDict(extra="forbid")

    task_id: str
    worker: str
    started: float  # the claim's start time: the end is recorded over this claim only
    status: str  # completed or failed
    message: str = ""
    reason: str = ""
    console: list[ConsoleLine] = field(default_factory=list)


@dataclass
class ClaimIn:
    queues: list[str]
    worker: str
    wait: float = 0.0  # seconds the server may hold the call until work arrives
    end: ClaimEnd | None = None  # the worker's previous run's end, recorded before the claim


@dataclass
class Beat:
    task_id: str | None = None


@router.post("/queues", response_model=Queue)
async def ensure_queue(body: Checked[QueueIn], request: Request, h: Hub = Depends(hub)) -> Json:
    caller = user(request)
    permissions.require(caller, "create", noun="queues")
    return record(
        await run_in_threadpool(lambda: h.store.ensure_queue(body.name, user=permissions.name_of(caller)))
    )


@router.get("/queues", response_model=list[Queue])
async def list_queues(h: Hub = Depends(hub)) -> Json:
    return records(await run_in_threadpool(h.store.list_queues))


@router.get("/queues/{name:path}/entries", response_model=list[QueueEntry])
async def queue_entries(name: str, h: Hub = Depends(hub)) -> Json:
    return records(await run_in_threadpool(h.store.queue_entries, name))


@router.post("/queues/{name:path}/entries", response_model=QueueEntry)
async def enqueue(name: str, body: Checked[EntryIn], request: Request, h: Hub = Depends(hub)) -> Json:
    """Put a created, stopped or failed task on queue `name`; idle agents wake at once."""
    caller = user(request)

    def put_on() -> QueueEntry:
        permissions.require_task(h.store, caller, "enqueue", body.task_id)
        return h.enqueue(body.task_id, name, priority=body.priority)

    return record(await run_in_threadpool(put_on))


@router.post("/entries", response_model=list[QueueEntry])
async def enqueue_many(body: Checked[EntriesIn], request: Request, h: Hub = Depends(hub)) -> Json:
    """Put tasks on a queue in one transaction, all or none (ClearML's `tasks.enqueue_many`)."""
    caller = user(request)

    if len(body.task_ids) > MAX_ENQUEUE:  # before the permission query over them
        raise ValidationError(f"enqueue_many: at most {MAX_ENQUEUE} tasks a call, got {len(body.task_ids)}")

    def put_on() -> list[QueueEntry]:
        permissions.require_tasks(h.store, caller, "enqueue", body.task_ids)
        return h.enqueue_many(body.task_ids, body.queue, priority=body.priority)

    return records(await run_in_threadpool(put_on))


@router.get("/queues/{name:path}", response_model=Queue)
async def get_queue(name: str, h: Hub = Depends(hub)) -> Json:
    return record(await run_in_threadpool(h.store.get_queue, name))


@router.delete("/queues/{name:path}", status_code=204)
async def delete_queue(name: str, request: Request, h: Hub = Depends(hub)) -> None:
    caller = user(request)

    def delete() -> None:
        permissions.require_queue(h.store, caller, "delete queue", name)
        h.store.delete_queue(name)

    await run_in_threadpool(delete)


@router.post("/claims", response_model=TaskRecord | None)
async def claim(body: Checked[ClaimIn], request: Request, h: Hub = Depends(hub)) -> Json:
    """Take the next entry of `queues` (in that order, then priority, then age) for `worker`.

    With `wait` > 0 the call is held until an entry arrives or `wait` seconds pass (null).
    `end`: how the worker's previous run ended (as `POST /api/claims/end`), recorded first, so
    an agent between two tasks makes one round trip."""
    caller = user(request)
    permissions.require(caller, "claim tasks from", noun="queues")
    end = None
    if body.end is not None:
        if body.end.worker != body.worker:
            raise ValidationError("a claim carries the end of its own worker's run only")
        if not _ends_any(caller):
            await run_in_threadpool(_may_end, h, caller, body.end)
        end = _said(body.end)  # recorded in the claim's own transaction (store.queues.claim)
    task = await claims.claim(h, body.queues, body.worker, body.wait, _hung_up(request), end=end)
    return record(task)


@router.post("/claims/end")
async def end_claim(
    body: Checked[ClaimEnd], request: Request, h: Hub = Depends(hub)
) -> dict[str, str | None]:
    """A claimed run's end, from its agent: its last console lines, its final status (only over
    the same claim) and its worker idle, in one transaction. `instead`: null when the status
    was recorded, else what the task is ("taken": another claim's run has it)."""
    caller = user(request)
    permissions.require(caller, "claim tasks from", noun="queues")
    instead = await run_in_threadpool(_ended, h, caller, body)
    h.touched()
    return {"instead": instead}


def _hung_up(request: Request) -> Callable[[], Awaitable[bool]]:
    """Whether the caller hung up: starlette's `is_disconnected`, less its cancel scope, which
    formats the whole task's repr on every call (~0.1 ms of each claim's CPU)."""

    async def gone() -> bool:
        message = asyncio.ensure_future(request.receive())
        await asyncio.sleep(0)  # the receive runs first: done now only if a message waits
        if not message.done():
            message.cancel()
            return False
        return bool(message.result().get("type") == "http.disconnect")

    return gone


def _ended(h: Hub, caller: permissions.User, end: ClaimEnd) -> str | None:
    _may_end(h, caller, end)
    instead: str | None = h.store.end_claim(**_said(end))
    return instead


def _ends_any(caller: permissions.User) -> bool:
    """Whether `caller` may end any run (agents, admins): no lookups needed."""
    return permissions.acts_for_everyone(caller, "set the status of") and permissions.acts_for_everyone(
        caller, "manage workers"
    )


def _may_end(h: Hub, caller: permissions.User, end: ClaimEnd) -> None:
    permissions.require_task(h.store, caller, "set the status of", end.task_id)
    permissions.require_worker(h.store, caller, end.worker, None)


def _said(end: ClaimEnd) -> dict[str, Any]:
    """`end_claim`'s arguments."""
    return {
        "task_id": end.task_id,
        "worker": end.worker,
        "started": end.started,
        "status": end.status,
        "message": end.message,
        "reason": end.reason,
        "console": end.console,
    }


@router.post("/workers", status_code=204)
async def register_worker(worker: Checked[Worker], request: Request, h: Hub = Depends(hub)) -> None:
    caller = user(request)
    await run_in_threadpool(
        permissions.require_worker, h.store, caller, worker.id, worker.task_id, worker.queues
    )
    await run_in_threadpool(h.store.register_worker, worker)
    h.touched()


@router.get("/workers", response_model=list[Worker])
async def list_workers(h: Hub = Depends(hub)) -> Json:
    return records(await run_in_threadpool(h.store.list_workers))


@router.post("/workers/{worker_id:path}/heartbeat", status_code=204)
async def heartbeat(worker_id: str, body: Checked[Beat], request: Request, h: Hub = Depends(hub)) -> None:
    await run_in_threadpool(permissions.require_worker, h.store, user(request), worker_id, body.task_id)
    await run_in_threadpool(h.store.heartbeat, worker_id, body.task_id)


@router.delete("/workers/{worker_id:path}", status_code=204)
async def unregister_worker(worker_id: str, request: Request, h: Hub = Depends(hub)) -> None:
    task_id = worker_id.rpartition(":")[2] if worker_id.startswith(permissions.CONTROLLER_WORKER) else None
    await run_in_threadpool(permissions.require_worker, h.store, user(request), worker_id, task_id)
    await run_in_threadpool(h.store.unregister_worker, worker_id)
    h.touched()
