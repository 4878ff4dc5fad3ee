"""Tasks orphaned by a dead process: failed, or back on their queue while retries are left.

A worker that has not sent a heartbeat within the timeout is dead (killed, its machine
gone). Whoever notices first (any agent on its heartbeat tick, or the server's watchdog)
settles its task; the status change names `expect=[in_progress]`, so two noticers cannot
settle the same task twice. Pure logic over any backend-shaped object, so the agent (over a
client transport) and the server (over the store) share it.

Tasks no agent claimed (a local controller, its local and debug-mode steps) name the process
that runs them in `runtime["_owner"]` (`owner()`: host, pid, process start time, the worker id
it heartbeats as). On the same host a dead owner is seen at once (no such pid, or a new process
under a reused pid); elsewhere, by its missing heartbeat. Embedded mode has no watchdog: every
ductwork process that looks (a run's controller, `ductwork tasks list`, resume, the server)
settles what it finds.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Collection
from typing import Any, Protocol

from ductwork.core.errors import Conflict, DuctworkError, NotFound, StatusError
from ductwork.core.queries import TaskQuery
from ductwork.core.records import TaskRecord, Worker

DEFAULT_TIMEOUT_S = 30.0
OWNER_KEY = "_owner"  # runtime key; "_" keys are run state, not copied to a clone


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
    # Silence counts only from when this process began watching: heartbeats go through the
    # server, so while it was down (a restart) nobody could beat; its first look must not
    # read that gap as every worker dead.
    watched = _watching_since()
    settled: list[str] = []
    workers = backend.list_workers()
    live = set()
    for worker in workers:
        if moment - max(worker.heartbeat, watched) < timeout or worker.id in spare:
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
            if task.id in settled:
                continue
            owner = current_owner(task)
            if owner is not None:
                why = owner_gone(owner, live, moment - max(task.updated, watched), timeout)
                if why and settle_dead(backend, task, why):
                    settled.append(task.id)
                continue
            unowned = bool(task.worker) and task.worker not in live
            if (
                unowned
                and moment - max(task.updated, watched) >= timeout
                and settle_orphan(backend, task.id, str(task.worker), timeout)
            ):
                settled.append(task.id)
    return settled


_since: list[float] = []


def _watching_since() -> float:
    if not _since:
        _since.append(time.time())
    return _since[0]


def settle_orphan(backend: _Backend, task_id: str, worker_id: str, timeout: float) -> bool:
    """Fail the task `worker_id` was running, then re-queue it if its `retries_left` allows."""
    try:
        task = backend.get_task(task_id)
    except NotFound:
        return False
    if task.status != "in_progress" or (task.worker and task.worker != worker_id):
        return False
    found = current_owner(task)
    if found is not None and _same_machine(found) and process_alive(int(found["pid"]), found.get("start")):
        return False  # its own process runs it and lives: a late heartbeat is not a death
    why = f"agent {worker_id} stopped responding (no heartbeat for {timeout:g} s)"
    return settle_lost(backend, task, why)


def settle_lost(backend: _Backend, task: TaskRecord, message: str) -> bool:
    """Fail a running task whose runner is gone (an agent, a Ray node), then re-queue it if its
    `retries_left` allows; True when this call failed it."""
    try:
        backend.set_status(task.id, "failed", message=message, reason="worker lost", expect=["in_progress"])
    except (Conflict, StatusError, NotFound):
        return False  # someone else settled it, or the agent came back and finished it
    retries = _int(task.runtime.get("retries_left"))
    if retries > 0 and task.queue:
        try:
            backend.edit_task(task.id, {"runtime": {**task.runtime, "retries_left": retries - 1}})
            backend.enqueue(task.id, task.queue)
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


# ---- processes that run tasks without an agent -------------------------------------------


def owner(worker: str = "", started: float | None = None) -> dict[str, Any]:
    """This process, as the owner of a task it runs: `runtime["_owner"]`.

    `started`: the task's `started` stamp when this process set it (a later claim or run of
    the same task changes it, which retires this owner); `worker`: the id it heartbeats as."""
    pid = os.getpid()
    return {
        "host": socket.gethostname(),
        "ns": _pid_namespace(),
        "pid": pid,
        "start": process_start(pid),
        "worker": worker,
        "started": started,
    }


def current_owner(task: TaskRecord) -> dict[str, Any] | None:
    """The task's owner process if it is the one running it now, else None."""
    found = task.runtime.get(OWNER_KEY) if isinstance(task.runtime, dict) else None
    if not isinstance(found, dict) or not found.get("pid"):
        return None
    started = found.get("started")
    if started is None:
        return None if task.worker else found  # claimed by an agent since: the agent's
    return found if task.started is not None and abs(float(started) - task.started) < 1e-3 else None


def owner_gone(found: dict[str, Any], live: Collection[str], silent_s: float, timeout: float) -> str:
    """Why the owner process is dead ("" while it may live)."""
    where = f"process {found.get('pid')} on {found.get('host')}"
    if _same_machine(found):
        if process_alive(int(found["pid"]), found.get("start")):
            return ""
        return f"its {where} died"
    worker = str(found.get("worker") or "")
    if not worker or worker in live:
        return ""  # alive, or no heartbeat to judge by: only its own machine can tell
    if silent_s < timeout:
        return ""
    return f"its {where} stopped responding (no heartbeat for {timeout:g} s)"


def settle_dead(backend: _Backend, task: TaskRecord, why: str) -> bool:
    """Fail a task whose process died; True when this call did it."""
    try:
        backend.set_status(
            task.id,
            "failed",
            message=f"the task's process was lost: {why}",
            reason="process lost",
            expect=["in_progress"],
        )
    except (Conflict, StatusError, NotFound):
        return False  # settled by someone else, or it ended meanwhile
    return True


def process_start(pid: int) -> str | None:
    """When process `pid` started (clock ticks since boot, Linux), to tell a reused pid from
    the process that had it; None where the system does not say."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            stat = handle.read()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None  # field 22 of stat(5), after pid and comm


def process_alive(pid: int, start: str | None) -> bool:
    """Whether process `pid` (started at `start`, when known) still runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: it exists
    if start is None:
        return True
    now = process_start(pid)
    if now is None:
        return True
    if now != str(start):
        return False
    try:  # a zombie has exited; its parent just has not reaped it yet
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def _same_machine(found: dict[str, Any]) -> bool:
    """Same host and the same pid namespace, so its pid means the same process here."""
    if found.get("host") != socket.gethostname():
        return False
    ours, theirs = _pid_namespace(), found.get("ns")
    return ours == theirs if ours is not None or theirs is not None else True


def _pid_namespace() -> int | None:
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None
