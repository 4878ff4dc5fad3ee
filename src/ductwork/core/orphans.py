"""Tasks orphaned by a dead agent: failed, or back on their queue while retries are left.

A worker that has not sent a heartbeat within the timeout is dead (killed, its machine
gone). Whoever notices first (any agent on its heartbeat tick, or the server's watchdog)
settles its task; the status change names `expect=[in_progress]`, so two noticers cannot
settle the same task twice. Pure logic over any backend-shaped object, so the agent (over a
client transport) and the server (over the store) share it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection
from typing import Any, Protocol

from ductwork.core.errors import Conflict, DuctworkError, NotFound, StatusError
from ductwork.core.queries import TaskQuery
from ductwork.core.records import TaskRecord, Worker

DEFAULT_TIMEOUT_S = 30.0


def heartbeat_timeout() -> float:
    """`$DUCTWORK_HEARTBEAT_TIMEOUT` seconds (default 30) without a heartbeat = a dead worker."""
    raw = os.environ.get("DUCTWORK_HEARTBEAT_TIMEOUT", "")
    try:
        return float(raw) if raw else DEFAULT_TIMEOUT_S
    except ValueError:
        return DEFAULT_TIMEOUT_S


class _Backend(Protocol):
    def list_workers(self) -> list[Worker]: ...
    def get_task(self, task_id: str) -> TaskRecord: ...
    def set_status(
        self,
        task_id: str,
        status: str,
        *,
        message: str = "",
        reason: str = "",
        force: bool = False,
        expect: Any = None,
    ) -> TaskRecord: ...
    def edit_task(self, task_id: str, changes: dict[str, Any]) -> TaskRecord: ...
    def enqueue(self, task_id: str, queue: str, *, priority: int = 0) -> Any: ...
    def unregister_worker(self, worker_id: str) -> None: ...
    def query_tasks(self, query: TaskQuery) -> list[TaskRecord]: ...


def reap(
    backend: _Backend,
    *,
    timeout: float,
    now: float | None = None,
    spare: Collection[str] = (),
    scan_tasks: bool = False,
) -> list[str]:
    """Settle the tasks of every worker silent for `timeout` seconds; answers their ids.

    `spare`: worker ids never reaped (the caller's own slots). `scan_tasks` also settles
    running tasks whose worker is not registered at all (it vanished between claiming and
    registering, or was unregistered while a claim was in flight): one query of the running
    tasks, so callers do it less often than the worker check."""
    moment = time.time() if now is None else now
    settled: list[str] = []
    workers = backend.list_workers()
    live = set()
    for worker in workers:
        if moment - worker.heartbeat < timeout or worker.id in spare:
            live.add(worker.id)
            continue
        if worker.task_id and settle_orphan(backend, worker.task_id, worker.id, timeout):
            settled.append(worker.task_id)
        try:
            backend.unregister_worker(worker.id)
        except NotFound:
            pass
    if scan_tasks:
        for task in backend.query_tasks(TaskQuery(status=["in_progress"], archived=None)):
            unowned = bool(task.worker) and task.worker not in live and task.id not in settled
            if (
                unowned
                and moment - task.updated >= timeout
                and settle_orphan(backend, task.id, str(task.worker), timeout)
            ):
                settled.append(task.id)
    return settled


def settle_orphan(backend: _Backend, task_id: str, worker_id: str, timeout: float) -> bool:
    """Fail the task `worker_id` was running, then re-queue it if its `retries_left` allows."""
    try:
        task = backend.get_task(task_id)
    except NotFound:
        return False
    if task.status != "in_progress" or (task.worker and task.worker != worker_id):
        return False
    reason = f"agent {worker_id} stopped responding (no heartbeat for {timeout:g} s)"
    try:
        backend.set_status(task_id, "failed", message=reason, reason="worker lost", expect=["in_progress"])
    except (Conflict, StatusError):
        return False  # someone else settled it, or the agent came back and finished it
    retries = _int(task.runtime.get("retries_left"))
    if retries > 0 and task.queue:
        try:
            backend.edit_task(task_id, {"runtime": {**task.runtime, "retries_left": retries - 1}})
            backend.enqueue(task_id, task.queue)
        except DuctworkError:
            return True  # failed stays the truth when it cannot go back on its queue
    return True


def give_back(backend: _Backend, task: TaskRecord, why: str) -> bool:
    """Return a task claimed by a worker that will not run it to its queue (agent stopping,
    claimer gone); True when it is queued again."""
    if not task.queue:
        return False
    try:
        backend.set_status(task.id, "stopped", message=why, reason="returned", expect=["in_progress"])
        backend.enqueue(task.id, task.queue)
    except DuctworkError:
        return False
    return True


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
