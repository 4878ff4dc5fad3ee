"""`StepState`: what happened to one step in one run. The engine owns it.

The host (`run.Run`) and the executors answer with values and outcomes; the engine writes them
here. A step's definition is its `spec.StepSpec`; `PipelineController.Node` shows both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ductwork.core.records import TaskRecord
from ductwork.pipelines.stepjob import StepJob


@dataclass
class Job:
    """An in-process attempt (debug mode): its task, created in_progress, and its live call."""

    record: TaskRecord
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class StepState:
    status: str = "pending"
    attempt: int = 0  # retries so far
    job_id: str | None = None  # the current attempt's task
    executed: str | None = None  # the task that ran (or was reused from the cache)
    job_type: str | None = None  # the task's type, once it is created
    job: Job | None = None  # an in-process attempt's live call
    view: StepJob | None = None  # what `Node.job` handed out, kept so `node.job.task` stays one object
    result: Any = None  # in-process steps: the value returned, in memory
    error: str = ""
    job_started: float | None = None
    job_ended: float | None = None
    skip_job: bool = False
    cache_key: str = ""
    cache_note: str = ""

    @property
    def task_id(self) -> str | None:
        """The step's task: the current attempt's, else the one that ran."""
        return self.job_id or self.executed
