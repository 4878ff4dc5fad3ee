"""What every page's read model shares: the store's reading half and how values are shown."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Protocol

from ductwork.core.display import STATUS_WORDS, status_word
from ductwork.core.queries import EventQuery, TaskQuery
from ductwork.core.records import (
    ArtifactRecord,
    ConfigObject,
    ConsoleLine,
    MetricEvent,
    ModelRecord,
    NodeState,
    Param,
    Project,
    Queue,
    QueueEntry,
    TaskModel,
    TaskRecord,
    Worker,
)

# The words a run or task status is shown as, in the order of a task's life (core.display's table).
RUN_STATUSES = tuple(dict.fromkeys(STATUS_WORDS.values()))
NODE_STATUSES = ("pending", "queued", "running", "completed", "failed", "cached", "skipped", "aborted")
MAX_POINTS = 2000  # per scalar series sent to a chart; enough for any screen width


class Reader(Protocol):
    """The part of the store (`ductwork.store.Store`) the pages read."""

    def list_projects(self) -> list[Project]: ...
    def get_project(self, project_id: str) -> Project: ...
    def find_project(self, name: str) -> Project | None: ...
    def get_task(self, task_id: str) -> TaskRecord: ...
    def get_tasks(self, task_ids: Sequence[str]) -> list[TaskRecord]: ...
    def query_tasks(self, query: TaskQuery) -> list[TaskRecord]: ...
    def count_tasks(self, query: TaskQuery) -> int: ...
    def get_parameters(self, task_id: str) -> dict[str, Param]: ...
    def get_configurations(self, task_id: str) -> dict[str, ConfigObject]: ...
    def get_artifacts(self, task_id: str) -> list[ArtifactRecord]: ...
    def get_model(self, model_id: str) -> ModelRecord: ...
    def get_task_models(self, task_id: str) -> list[TaskModel]: ...
    def get_events(self, query: EventQuery) -> list[MetricEvent]: ...
    def get_console(self, task_id: str, *, after: int = 0, limit: int | None = None) -> list[ConsoleLine]: ...
    def get_nodes(self, run_id: str) -> list[NodeState]: ...
    def list_queues(self) -> list[Queue]: ...
    def queue_entries(self, queue: str) -> list[QueueEntry]: ...
    def list_workers(self) -> list[Worker]: ...


def one_read(store: Reader) -> AbstractContextManager[Any]:
    """The store reads of a page inside share one transaction (`Database.reading`): one
    connection instead of one per read, and on SQLite one snapshot. For requests that only read;
    a reader without the store's database reads call by call."""
    database = getattr(store, "database", None)
    return database.reading() if database is not None else nullcontext()


def run_status(task: TaskRecord) -> str:
    """A controller task's status in the words of the runs table (the CLI's too)."""
    return status_word(task.status)


def duration(started: float | None, ended: float | None, *, at: float | None = None) -> float | None:
    """Seconds from start to end, or to `at` (now) while still running."""
    if started is None:
        return None
    return max(0.0, (ended if ended is not None else (at or time.time())) - started)


def display_value(value: Any) -> str:
    """A parameter value as a person reads and edits it: strings bare, everything else as JSON."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def last_metrics(store: Reader, task_id: str) -> dict[str, float]:
    """`title/series` -> the last reported value: single values, then each scalar series' last point."""
    values: dict[str, float] = {}
    for event in store.get_events(EventQuery(task_id=task_id, kind="scalar")):
        if event.value is not None:
            values[metric_name(event)] = event.value
    for event in store.get_events(EventQuery(task_id=task_id, kind="single")):
        if event.value is not None:
            values[metric_name(event)] = event.value
    return values


def metric_name(event: MetricEvent) -> str:
    if not event.series or event.series == event.title:
        return event.title
    return f"{event.title}/{event.series}"
