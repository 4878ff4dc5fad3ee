"""What the scheduler (`engine.Engine`) and the two sides it joins say to each other: the
pipeline run that prepares and records steps (`Host`, `run.Run`), and where a step attempt
runs (`Executor`: in this process, in a process of its own, on an agent)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ductwork.pipelines.node import Node
from ductwork.pipelines.spec import StepSpec
from ductwork.pipelines.state import Job


@dataclass
class Outcome:
    """How one attempt of a step ended."""

    status: str  # "completed" | "failed" | "aborted"
    message: str = ""
    result: Any = None  # in-process steps: the returned value itself


@dataclass
class Prepared:
    """What the host made of a step before it runs; the engine records it in the step's state.

    `decision`: "launch" (its task `task_id` was created), "cached" (task `task_id` ran it
    before), "skip", or "failed" (`error` says why). Fields left None leave the state as it is."""

    decision: str
    spec: StepSpec | None = None  # the step as resolved (queue, task overrides, base task)
    task_id: str | None = None
    job_type: str | None = None
    job: Job | None = None  # in-process steps: the call's live arguments
    result: Any = None  # a cached in-process step: its recorded value
    cache_key: str | None = None
    cache_note: str | None = None
    error: str | None = None
    forget_task: bool = False  # the task was deleted (step_task_created_callback said no)


Report = Callable[[Node, str, "Outcome | None"], None]


class Executor(Protocol):
    """Runs one prepared step attempt (`node.job_id` is its task) and reports back."""

    def start(self, node: Node, report: Report) -> None:
        """Start without blocking; call `report(node, "running", None)` when it runs and
        `report(node, "done", Outcome)` exactly once when it ends."""
        ...

    def abort(self, node: Node) -> None: ...

    def close(self) -> None: ...


class Host(Protocol):
    """What the engine asks of its pipeline (the controller)."""

    def prepare(self, node: Node) -> Prepared:
        """Resolve, call pre-callbacks, look up the cache, create the task."""
        ...

    def created(self, node: Node) -> Prepared:
        """The step's task exists (recorded): "launch" it, or "skip" it (the
        step_task_created_callback said no, or it is a draft)."""
        ...

    def retry(self, node: Node, outcome: Outcome) -> bool:
        """Whether a failed attempt is tried again."""
        ...

    def finished(self, node: Node, outcome: Outcome | None) -> None:
        """Record the final state, monitors and post-callbacks (also for cached/skipped)."""
        ...

    def status_changed(self, node: Node, previous: str) -> None: ...

    def flush(self, nodes: list[Node]) -> None:
        """Persist the states of `nodes`, changed since the last flush (one batch)."""
        ...
