"""A step's inputs as its user wrote them: `${load.points}`, not `{"$ref": "<task id>.points"}`.

A step task stores each upstream output it takes as a marker naming the producing task
(`{"$ref": "<task>.<name>"}`, at any depth of a list or dict; a reference inside a longer text
reads as the marker's repr), and `kwargs_artifacts/<arg>` as `"<task>.<name>"`. The pages show
each as `${<step>.<name>}`, the producing step found among the run's steps by its task id (a
cached or reused output from another run is named by that task's own name), with a link to it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ductwork.core.errors import NotFound
from ductwork.core.patterns import Pattern
from ductwork.core.records import Param
from ductwork.server.services.views.common import Reader, display_value

REF_KEY = "$ref"  # the marker's key (pipelines.runner.REF_KEY; the server does not import pipelines)
INPUT_ARTIFACTS = "kwargs_artifacts"
# A marker inside a longer text, as str() of the dict wrote it: {'$ref': '<task>.<name>'}
_IN_TEXT = Pattern(r"\{'\$ref': '([0-9A-Za-z_-]{1,64})\.([^'\\]{1,256})'\}")
_WHOLE = Pattern(r"^([0-9A-Za-z_-]{1,64})\.(.{1,256})$", re.S)


@dataclass(frozen=True)
class Producer:
    step: str  # the step's name, or the task's name when it is not a step of this run
    task_id: str
    in_run: bool  # a step of this run (the run page selects it) or a task elsewhere


@dataclass
class Shown:
    """A parameter as the page prints it, and the steps it refers to (links, in order)."""

    text: str
    refs: list[Producer] = field(default_factory=list)


class Producers:
    """Task id -> the producing step, from the run's steps; other tasks looked up once each."""

    def __init__(self, store: Reader, steps: Mapping[str, str | None]) -> None:
        self._store = store
        self._known = {task_id: Producer(name, task_id, True) for name, task_id in steps.items() if task_id}

    def of(self, task_id: str) -> Producer | None:
        found = self._known.get(task_id)
        if found is None:
            try:
                found = Producer(self._store.get_task(task_id).name, task_id, False)
            except NotFound:
                return None
            self._known[task_id] = found
        return found


def shown(key: str, param: Param, producers: Producers) -> Shown:
    """`param` (stored under `section/name` = `key`) as the user wrote it."""
    refs: list[Producer] = []

    def written(task_id: str, name: str) -> str | None:
        producer = producers.of(task_id)
        if producer is None:
            return None
        if producer not in refs:
            refs.append(producer)
        return "${" + f"{producer.step}.{name}" + "}"

    value = param.value
    if key.partition("/")[0] == INPUT_ARTIFACTS and isinstance(value, str):
        match = _WHOLE.match(value)
        text = written(match.group(1), match.group(2)) if match else None
        return Shown(text or value, refs)
    rebuilt = _rewrite(value, written)
    if isinstance(rebuilt, str):
        return Shown(rebuilt, refs)
    if not refs:
        return Shown(display_value(value), refs)
    return Shown(json.dumps(rebuilt, default=str), refs)


def _rewrite(value: Any, written: Any) -> Any:
    """`value` with every marker (whole values, nested, or inside texts) written as `${step.name}`."""
    if isinstance(value, dict):
        marker = value.get(REF_KEY)
        if len(value) == 1 and isinstance(marker, str):
            match = _WHOLE.match(marker)
            text = written(match.group(1), match.group(2)) if match else None
            return text if text is not None else value
        return {k: _rewrite(v, written) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, written) for v in value]
    if isinstance(value, str) and REF_KEY in value:
        return _IN_TEXT.sub(lambda m: written(m.group(1), m.group(2)) or m.group(0), value)
    return value


def shown_params(
    store: Reader, params: Mapping[str, Mapping[str, Param]], steps: Mapping[str, str | None]
) -> dict[str, dict[str, Shown]]:
    """Every section's parameters as shown, references resolved against `steps` (name -> task id)."""
    producers = Producers(store, steps)
    return {
        section: {name: shown(f"{section}/{name}", p, producers) for name, p in named.items()}
        for section, named in params.items()
    }


def run_steps(store: Reader, task_parent: str | None) -> dict[str, str | None]:
    """The steps (name -> task id) of the run a task belongs to; empty for a task of no run."""
    from ductwork.core import runformat
    from ductwork.server.services.views.runs import pipeline_steps

    if not task_parent:
        return {}
    try:
        parent = store.get_task(task_parent)
    except NotFound:
        return {}
    if not runformat.is_run(parent):
        return {}
    return {name: step.task_id for name, step in pipeline_steps(store, parent).items()}
