"""Owner processes of tasks run without an agent: who is alive, which owner is current, and
settling the dead ones (pure logic over a small in-memory backend)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

from ductwork.core import orphans
from ductwork.core.errors import Conflict
from ductwork.core.records import TaskRecord, Worker


def test_this_process_is_alive_and_a_reused_pid_is_not_its_process() -> None:
    me = orphans.owner("w")
    assert orphans.process_alive(me["pid"], me["start"])
    if me["start"] is not None:  # Linux: the start time tells a reused pid apart
        assert not orphans.process_alive(me["pid"], str(int(me["start"]) + 1))


def test_a_finished_process_is_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    start = orphans.process_start(child.pid)
    child.wait()
    assert not orphans.process_alive(child.pid, start)


def _task(owner: dict[str, Any] | None, *, started: float = 100.0, worker: str | None = None) -> TaskRecord:
    runtime = {orphans.OWNER_KEY: owner} if owner else {}
    return TaskRecord(name="t", status="in_progress", started=started, runtime=runtime, worker=worker)


def test_an_owner_is_current_until_another_run_of_the_task_starts() -> None:
    mine = orphans.owner("w", started=100.0)
    assert orphans.current_owner(_task(mine)) == mine
    assert orphans.current_owner(_task(mine, started=200.0)) is None  # continued, claimed again
    local_step = orphans.owner("w")  # started unknown at creation: current until an agent claims it
    assert orphans.current_owner(_task(local_step)) == local_step
    assert orphans.current_owner(_task(local_step, worker="agent:1")) is None


def test_a_dead_owner_elsewhere_is_judged_by_its_heartbeat_only() -> None:
    far = {**orphans.owner("controller:far"), "host": "another-host"}
    assert orphans.owner_gone(far, {"controller:far"}, 999, 30) == ""
    assert orphans.owner_gone(far, set(), 10, 30) == ""  # not silent long enough
    assert "stopped responding" in orphans.owner_gone(far, set(), 31, 30)
    assert orphans.owner_gone({**far, "worker": ""}, set(), 999, 30) == ""  # cannot tell: kept


class _Backend:
    def __init__(self, tasks: list[TaskRecord]) -> None:
        self.tasks = {t.id: t for t in tasks}

    def list_workers(self) -> list[Worker]:
        return []

    def get_task(self, task_id: str) -> TaskRecord:
        return self.tasks[task_id]

    def set_status(self, task_id: str, status: str, **kw: Any) -> TaskRecord:
        task = self.tasks[task_id]
        if kw.get("expect") and task.status not in kw["expect"]:
            raise Conflict(task_id)
        task.status, task.status_message, task.status_reason = (
            status,
            kw.get("message", ""),
            kw.get("reason", ""),
        )
        return task

    def query_tasks(self, query: Any) -> list[TaskRecord]:
        return [t for t in self.tasks.values() if t.status == "in_progress"]

    def edit_task(self, task_id: str, changes: dict[str, Any]) -> TaskRecord:
        raise AssertionError("not expected")

    def enqueue(self, task_id: str, queue: str, *, priority: int = 0) -> Any:
        raise AssertionError("not expected")

    def unregister_worker(self, worker_id: str) -> None:
        pass


def test_reap_settles_a_task_whose_owner_died_here_at_once_and_keeps_a_live_one() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    dead = {**orphans.owner("controller:x"), "pid": child.pid, "start": orphans.process_start(child.pid)}
    child.wait()
    gone, alive = _task(dead), _task(orphans.owner("controller:me"))
    gone.updated = alive.updated = time.time()  # just now: no heartbeat timeout involved
    backend = _Backend([gone, alive])
    assert orphans.reap(backend, timeout=30, scan_tasks=True) == [gone.id]
    assert gone.status == "failed" and gone.status_reason == "process lost"
    assert f"process {child.pid}" in gone.status_message
    assert alive.status == "in_progress"
    assert os.getpid() == alive.runtime[orphans.OWNER_KEY]["pid"]
