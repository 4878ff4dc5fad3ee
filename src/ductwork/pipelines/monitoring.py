"""A step's monitors (`monitor_metrics`, `monitor_artifacts`, `monitor_models`): what the
pipeline's own task gets of a step's once the step completed, under the names they give."""

from __future__ import annotations

import fnmatch
from typing import Any

from ductwork.client.contract import Backend
from ductwork.core.queries import EventQuery
from ductwork.core.records import MetricEvent, TaskModel
from ductwork.pipelines.node import Node


def monitors(node: Node) -> bool:
    options = node.spec.options
    return bool(options.monitor_metrics or options.monitor_artifacts or options.monitor_models)


def copy(backend: Backend, node: Node, run_id: str) -> None:
    """What `node`'s monitors name of its executed task, copied to the run's task `run_id`."""
    task_id = str(node.executed)
    if node.monitor_metrics:
        _copy_metrics(backend, node, task_id, run_id)
    if node.monitor_artifacts:
        for record in backend.get_artifacts(task_id):
            target = _match(node.monitor_artifacts, record.name)
            if target:
                record.task_id, record.name = run_id, target
                backend.put_artifact(record)
    if node.monitor_models:
        for link in backend.get_task_models(task_id):
            if link.role != "output":
                continue
            # By the name the step's task has it under (ClearML's task.models key; what
            # OutputModel.connect(task, name=...) sets), else the model's own name.
            model = backend.get_model(link.model_id)
            target = _match(node.monitor_models, link.name) or _match(node.monitor_models, model.name)
            if target:  # the pipeline's output model, under the name monitor_models gives it
                backend.attach_model(TaskModel(run_id, link.model_id, "output", target))


def _copy_metrics(backend: Backend, node: Node, task_id: str, run_id: str) -> None:
    events = backend.get_events(EventQuery(task_id=task_id, kind="scalar"))
    last: dict[tuple[str, str], MetricEvent] = {}
    for item in events:
        last[(item.title, item.series)] = item
    copies = []
    for spec in node.monitor_metrics:
        (src, dst) = (spec[0], spec[1]) if isinstance(spec[0], (tuple, list)) else (spec, spec)
        event = last.get((src[0], src[1]))
        if event is not None:
            copies.append(MetricEvent(run_id, "scalar", dst[0], dst[1], event.iteration, event.value))
    if copies:
        backend.add_events(copies)


def _match(specs: list[Any], name: str) -> str | None:
    """The target name of the first monitor spec matching `name` (wildcards allowed)."""
    for spec in specs:
        src, dst = (spec[0], spec[1]) if isinstance(spec, (tuple, list)) else (spec, None)
        if fnmatch.fnmatchcase(name, str(src)):
            return str(dst) if dst else name
    return None
