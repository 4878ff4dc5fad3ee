"""`node.job`: ClearML's job of a step attempt, read from the store when asked.

ClearML's callbacks reach a step's task as `node.job.task` and ask its job for status, metrics
and console (`ClearmlJob`). Here the engine keeps only the ids (`StepState`); this view turns
them into that API. A node has a job from the moment its task exists (so none yet in a
`pre_execute_callback`) and keeps it after the step ends; a cached step's job is the earlier
task that ran it (`is_cached_task()`). Launching is the engine's: a job is not launched by hand.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from ductwork.core.states import TaskStatus

if TYPE_CHECKING:
    from ductwork.sdk.task import Task

_ENDED = (TaskStatus.completed, TaskStatus.published, TaskStatus.failed, TaskStatus.stopped)


class StepJob:
    def __init__(self, task_id: str, cached: bool) -> None:
        self._id = task_id
        self._cached = cached
        self._task: Task | None = None

    def __repr__(self) -> str:
        return f"StepJob(task_id={self._id!r}, cached={self._cached})"

    @property
    def task(self) -> Task:
        """The attempt's task (the same object on every read; `status()` refreshes it)."""
        if self._task is None:
            from ductwork.sdk.task import Task

            self._task = Task.get_task(task_id=self._id)
        return self._task

    def task_id(self) -> str:
        return self._id

    def is_cached_task(self) -> bool:
        """Whether the step reused a task an earlier run made (nothing ran now)."""
        return self._cached

    def status(self, force: bool = False) -> str:
        """The task's status, read now (`force` is accepted: every read is fresh)."""
        self.task.reload()
        return str(self.task.status)

    def status_message(self) -> str:
        self.task.reload()
        return self.task.data.status_message

    def is_running(self) -> bool:
        return self.status() == TaskStatus.in_progress

    def is_pending(self) -> bool:
        return self.status() in (TaskStatus.created, TaskStatus.queued)

    def is_stopped(self, aborted_nonresponsive_as_running: bool = False) -> bool:
        """Whether the task ended, however it ended."""
        return self.status() in _ENDED

    def is_completed(self) -> bool:
        return self.status() in (TaskStatus.completed, TaskStatus.published)

    def is_failed(self) -> bool:
        return self.status() == TaskStatus.failed

    def is_aborted(self) -> bool:
        return self.status() == TaskStatus.stopped

    def started(self) -> bool:
        return not self.is_pending()

    def elapsed(self) -> float:
        """Seconds the task has run (until its end), -1.0 before it starts."""
        self.task.reload()
        record = self.task.data
        if record.started is None:
            return -1.0
        return (record.ended or time.time()) - record.started

    def iterations(self) -> int:
        """The highest iteration the task reported a scalar at."""
        return self.task.get_last_iteration()

    def get_metric(self, title: str, series: str) -> tuple[float, float, float] | None:
        """`(min, max, last)` of a scalar series of the task, None if it reported none."""
        found = self.task.get_last_scalar_metrics().get(title, {}).get(series)
        return None if found is None else (found["min"], found["max"], found["last"])

    def get_console_output(self, number_of_reports: int = 1) -> list[str]:
        return self.task.get_reported_console_output(number_of_reports)

    def worker(self) -> str | None:
        self.task.reload()
        return self.task.data.worker

    def wait(
        self,
        timeout: float | None = None,
        pool_period: float = 30.0,
        aborted_nonresponsive_as_running: bool = False,
    ) -> bool:
        """Wait until the task ends, at most `timeout` minutes; whether it ended."""
        deadline = None if timeout is None else time.monotonic() + timeout * 60
        delay = 0.05
        while not self.is_stopped():
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(delay)
            delay = min(delay * 2, max(0.05, pool_period))
        return True

    def abort(self) -> None:
        """Stop the attempt: its task is marked stopped, and whoever runs it (an agent, or the
        controller for a step of its own) stops it; the step ends aborted."""
        if not self.is_stopped():
            self.task.mark_stopped(force=True)
