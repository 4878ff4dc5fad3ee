"""One run: its steps as the `Pipeline` configuration draws them, with their live states."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from ductwork.core import runformat
from ductwork.core.errors import NotFound
from ductwork.core.records import (
    Param,
    TaskRecord,
)
from ductwork.server.services.views.common import (
    NODE_STATUSES,
    Reader,
    one_read,
    run_status,
)
from ductwork.server.services.views.pipelines import PipelineSummary, pipeline_named


@dataclass
class StepInfo:
    """What the `Pipeline` configuration says about a step, with its live state on top."""

    name: str
    parents: list[str]
    status: str = "pending"
    task_id: str | None = None
    started: float | None = None
    ended: float | None = None
    attempt: int = 0
    stage: str = ""
    queue: str = ""
    cache_key: str = ""
    cache_note: str = ""
    message: str = ""

    @property
    def cache_reason(self) -> str:
        """Why the cache hit or missed, without the "cache hit:" lead the badge already says."""
        head, sep, rest = self.cache_note.partition(":")
        if sep and head.strip().lower() in ("cache hit", "cache miss"):
            return rest.strip()
        return self.cache_note


@dataclass
class RunView:
    task: TaskRecord
    status: str
    version: str
    pipeline: PipelineSummary | None
    args: dict[str, Param]
    steps: dict[str, StepInfo]
    counts: dict[str, int]


def pipeline_steps(store: Reader, run: TaskRecord) -> dict[str, StepInfo]:
    """The run's steps in the order they were added: the DAG from `Pipeline`, states from the nodes.

    Only the node table says what happened in *this* run. The `Pipeline` configuration of a run
    made by NEW RUN or a clone still carries the statuses and task ids of the run it was copied
    from, so it gives the shape (parents, stage, queue) and nothing else: a step without a node
    state is pending.
    """
    steps: dict[str, StepInfo] = {}
    for name, node in runformat.read_dag_configs(store.get_configurations(run.id)).items():
        steps[name] = _step_from_config(name, node)
    for state in store.get_nodes(run.id):
        step = steps.setdefault(state.name, StepInfo(name=state.name, parents=[]))
        step.status = state.status if state.status in NODE_STATUSES else "pending"
        step.task_id = state.task_id
        step.started = state.started
        step.ended = state.ended
        step.attempt = state.attempt
        step.cache_key = state.cache_key
        step.cache_note = state.cache_note
        step.message = state.message
    return steps


def _step_from_config(name: str, node: dict[str, object]) -> StepInfo:
    parents = node.get("parents") or []
    return StepInfo(
        name=name,
        parents=[str(p) for p in parents] if isinstance(parents, list) else [],
        stage=str(node.get("stage") or ""),
        queue=str(node.get("queue") or ""),
    )


def run_view(store: Reader, run_id: str) -> RunView:
    with one_read(store):
        task = store.get_task(run_id)
        steps = pipeline_steps(store, task)
        pipeline = None
        if task.project:
            try:
                pipeline = pipeline_named(store, task.project)
            except NotFound:
                pipeline = None
        params = store.get_parameters(run_id)
    counts = Counter(s.status for s in steps.values())
    return RunView(
        task=task,
        status=run_status(task),
        version=runformat.version_of(task),
        pipeline=pipeline,
        args=runformat.args_of(params),
        steps=steps,
        counts={s: counts.get(s, 0) for s in NODE_STATUSES},
    )


def node_states_payload(steps: dict[str, StepInfo]) -> dict[str, Any]:
    """Live state per step in columns, the shape the canvas applies in one pass."""
    return {
        "names": list(steps),
        "status": [s.status for s in steps.values()],
        "started": [s.started for s in steps.values()],
        "ended": [s.ended for s in steps.values()],
        "task": [s.task_id for s in steps.values()],
        "now": time.time(),
    }
