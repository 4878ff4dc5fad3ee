"""Task and step statuses, with the one table of legal transitions."""

from __future__ import annotations

from enum import Enum

from ductwork.core.errors import StatusError


class TaskStatus(str, Enum):
    created = "created"
    queued = "queued"
    in_progress = "in_progress"
    completed = "completed"
    failed = "failed"
    stopped = "stopped"
    published = "published"

    def __str__(self) -> str:
        return self.value


class NodeStatus(str, Enum):
    """A step's state inside a run; `running`, `completed`... mirror its task."""

    pending = "pending"
    queued = "queued"
    running = "running"
    completed = "completed"
    failed = "failed"
    cached = "cached"
    skipped = "skipped"
    aborted = "aborted"

    def __str__(self) -> str:
        return self.value


FINAL = frozenset({TaskStatus.completed, TaskStatus.failed, TaskStatus.stopped, TaskStatus.published})
NODE_FINAL = frozenset(
    {NodeStatus.completed, NodeStatus.failed, NodeStatus.cached, NodeStatus.skipped, NodeStatus.aborted}
)
NODE_SUCCESS = frozenset({NodeStatus.completed, NodeStatus.cached})

S = TaskStatus
# Every legal move. `created` is also where `reset` lands from any non-published state.
TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    S.created: frozenset({S.queued, S.in_progress, S.stopped, S.failed, S.completed}),
    S.queued: frozenset({S.created, S.in_progress, S.stopped, S.failed}),
    # in_progress -> queued: an agent died and the retry policy puts the task back.
    S.in_progress: frozenset({S.completed, S.failed, S.stopped, S.queued}),
    S.completed: frozenset({S.published, S.created}),
    S.failed: frozenset({S.created, S.queued}),
    S.stopped: frozenset({S.created, S.queued, S.in_progress}),
    S.published: frozenset(),
}


def check_transition(task_id: str, old: str, new: str, *, force: bool = False) -> None:
    """Raise StatusError unless `old -> new` is legal (`force` allows all but leaving published)."""
    before, after = TaskStatus(old), TaskStatus(new)
    if before == after:
        return
    if before is S.published:
        raise StatusError(f"task {task_id} is published and read-only; clone it to change it")
    if force or after in TRANSITIONS[before]:
        return
    raise StatusError(f"task {task_id}: illegal status change {before.value} -> {after.value}")
