"""Whether a scheduler's loop really runs, and what the task it last launched is really doing.

A scheduler's task says `in_progress` from its start until someone changes it, also after its
process was killed; a launched task says `in_progress` while its agent may be gone. So both are
judged by heartbeats: a scheduler beats while its loop runs (the worker registry, as a local
pipeline controller does; under an agent, the agent's slot beats for it), and an agent beats
for the task it runs. A worker counts for a task only when it names that task (`task_id`).

Read by `ductwork scheduler list` (automation) and the Schedules page (server), which may not
import each other. Everything here may come from a hostile writer (a task's runtime is anyone's
to edit): a malformed owner is ignored, never trusted and never an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ductwork.core import orphans
from ductwork.core.records import TaskRecord, Worker

ACTIVE = ("queued", "in_progress")


@dataclass(frozen=True)
class Liveness:
    """A scheduler's loop: alive or not, the age of its newest heartbeat, and why, in words."""

    alive: bool
    heartbeat_age: float | None  # seconds; None when no worker beats for its task
    note: str


@dataclass(frozen=True)
class LaunchState:
    """The last launched task: its state in words ("queued", "running", "completed", "failed",
    "stopped", "draft", "deleted"), whether it really still holds its slot, and a note (a
    final status's message, or why a running task is doubtful)."""

    state: str
    active: bool
    note: str = ""


def newest_beat(task_id: str, workers: Sequence[Worker], now: float) -> float | None:
    """Seconds since the newest heartbeat of a worker running `task_id` (None: none does)."""
    beats = [w.heartbeat for w in workers if w.task_id == task_id]
    return max(0.0, now - max(beats)) if beats else None


def scheduler_liveness(task: TaskRecord, workers: Sequence[Worker], now: float, timeout: float) -> Liveness:
    age = newest_beat(task.id, workers, now)
    if task.status != "in_progress":
        return Liveness(False, age, f"its task is {task.status}")
    died = _owner_died(task)
    if died:
        return Liveness(False, age, died)
    if age is None:
        return Liveness(False, None, "no heartbeat: its loop is not running")
    if age > timeout:
        return Liveness(False, age, f"no heartbeat for {age:.0f} s")
    return Liveness(True, age, f"heartbeat {age:.0f} s ago")


def launch_state(
    task: TaskRecord | None, workers: Sequence[Worker], now: float, timeout: float
) -> LaunchState:
    if task is None:
        return LaunchState("deleted", False)
    status = task.status
    if status == "created":
        return LaunchState("draft", False, "made but not enqueued")
    if status == "queued":
        return LaunchState("queued", True, f"on {task.queue}" if task.queue else "")
    if status == "in_progress":
        age = newest_beat(task.id, workers, now)
        if age is None:
            return LaunchState("running", False, "no heartbeat from whatever runs it")
        if age > timeout:
            return LaunchState("running", False, f"no heartbeat for {age:.0f} s")
        return LaunchState("running", True)
    if status == "published":
        status = "completed"
    return LaunchState(status, False, task.status_message)


def call_state(last_call: object, scheduler_alive: bool) -> LaunchState:
    """A function entry's last call, as its scheduler recorded it (`last_call`: "running",
    "returned", "raised <Type>: <message>", or why it was lost). A call runs on a thread of the
    scheduler's process: it is running only while that process is alive."""
    if not isinstance(last_call, str) or not last_call:
        return LaunchState("", False)
    if last_call == "running":
        if scheduler_alive:
            return LaunchState("running", True)
        return LaunchState("lost", False, "its scheduler is not running")
    if last_call == "returned":
        return LaunchState("completed", False)
    if last_call.startswith("raised "):
        return LaunchState("failed", False, last_call)
    return LaunchState("lost", False, last_call)


def _owner_died(task: TaskRecord) -> str:
    """Why the process that runs the task is dead, when it ran on this machine; else ""."""
    try:
        found = orphans.current_owner(task)
        if found is None:
            return ""
        return orphans.owner_gone(found, live=(), silent_s=0.0, timeout=1.0)
    except (ValueError, TypeError, OverflowError, KeyError):
        return ""  # a malformed owner proves nothing either way
