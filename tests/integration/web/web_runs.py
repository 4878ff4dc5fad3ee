"""Pipeline runs written straight through the store, the way a controller records them.

A run is a controller task (type `controller`, system tag `pipeline`) in the hidden project
`<project>/.pipelines/<name>`, with `Args/*` parameters, its DAG in the `Pipeline` configuration
object and one live NodeState per step; each started step is a task whose parent is the run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ductwork.core.records import ConfigObject, NodeState, Param, TaskRecord, TaskTypes


@dataclass
class Run:
    id: str
    project_id: str
    steps: dict[str, str | None] = field(default_factory=dict)  # step -> task id


def make_run(
    store: Any,
    parents: Mapping[str, Sequence[str]],
    *,
    project: str = "examples",
    pipeline: str = "etl",
    name: str | None = None,
    args: Mapping[str, Param] | None = None,
    status: str = "in_progress",
    version: str = "1.0.0",
    states: Mapping[str, str] | None = None,
    queue: str | None = None,
) -> Run:
    """A run of the DAG `parents`; steps whose state is not pending get a task of their own."""
    holder = store.ensure_project(f"{project}/.pipelines/{pipeline}", system_tags=["pipeline", "hidden"])
    now = time.time()
    controller = store.create_task(
        TaskRecord(
            name=name or pipeline,
            project=holder.id,
            type=TaskTypes.controller,
            system_tags=["pipeline"],
            user="alice",
            runtime={"version": version},
            queue=queue,
            created=now - 120,
        )
    )
    if status != "created":
        if status != "queued":
            store.set_status(controller.id, "in_progress", force=True)
        store.set_status(controller.id, status, force=True)
    store.set_parameters(
        controller.id,
        {f"Args/{k}": v for k, v in (args or {}).items()} | {"properties/version": Param(version, "str")},
    )
    dag = {
        step: {"parents": list(ps), "status": "pending", "job_id": None, "stage": None, "queue": None}
        for step, ps in parents.items()
    }
    store.set_configuration(controller.id, "Pipeline", ConfigObject(text=json.dumps(dag), type="json"))
    run = Run(controller.id, holder.id)
    nodes = []
    for step in parents:
        state = (states or {}).get(step, "pending")
        task_id = None
        if state != "pending":
            task = store.create_task(
                TaskRecord(
                    name=step,
                    project=holder.id,
                    type=TaskTypes.data_processing,
                    parent=controller.id,
                    script={"code": f"def {step.replace('-', '_')}(x):\n    return x + 1\n"},
                )
            )
            task_id = task.id
        run.steps[step] = task_id
        nodes.append(
            NodeState(
                run_id=controller.id,
                name=step,
                status=state,
                task_id=task_id,
                started=now - 60 if state not in ("pending", "queued", "skipped") else None,
                ended=now - 5 if state in ("completed", "failed", "cached", "aborted") else None,
                cache_key="c0ffee" * 10 if state == "cached" else "",
                cache_note="cache hit: reused task 1234 (same code and inputs)" if state == "cached" else "",
            )
        )
    store.put_nodes(nodes)
    return run


def set_states(store: Any, run: Run, states: Mapping[str, str]) -> None:
    """Move steps to new states, as the controller does when they start and finish."""
    now = time.time()
    store.put_nodes(
        [
            NodeState(
                run_id=run.id,
                name=step,
                status=state,
                task_id=run.steps.get(step),
                started=now - 1 if state != "pending" else None,
                ended=now if state in ("completed", "failed", "cached", "aborted", "skipped") else None,
            )
            for step, state in states.items()
        ]
    )
