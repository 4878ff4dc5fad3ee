"""Turning a node into a step task: references resolved, cache key computed, task created.

A function step's task carries everything needed to run it again anywhere: the generated
code (`script.code`, run by `ductwork.sdk.runner`), its typed arguments (`kwargs/*`, where an
upstream result, a `runner.Output`, is stored as its `{"$ref": "<task>.<name>"}` marker), its
requirements and container. An argument that is wholly an upstream result is also named, as
ClearML names it, under `kwargs_artifacts/<arg>` (`"<task>.<name>"`): for users reading the task,
outside the cache key, never read back by ductwork.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from typing import Any

from ductwork.client.contract import Backend
from ductwork.core import launch, refs
from ductwork.core.errors import NotFound, ValidationError
from ductwork.core.queries import TaskQuery
from ductwork.core.records import ModelRecord, Param, TaskRecord
from ductwork.core.runformat import (
    CONTROLLER_TYPE,
    PIPELINE_HASH,
    PIPELINE_TAG,
    RETURN_NAMES,
    RUN,
    STEP,
    STEP_ARGS,
)
from ductwork.core.warmstart import RUNNER
from ductwork.pipelines.node import Node
from ductwork.pipelines.runner import INPUT_ARTIFACTS, Output, find_artifact, load_output, outputs_in, stored
from ductwork.pipelines.spec import StepSpec
from ductwork.sdk import urls
from ductwork.sdk.params import flatten

REPLAY = launch.REPLAY


class Resolver:
    """Resolves `${...}` references of a run against its arguments and finished steps."""

    def __init__(self, backend: Backend, args: Mapping[str, Any], nodes: Mapping[str, Node]) -> None:
        self.backend = backend
        self.args = args
        self.nodes = nodes

    def task_of(self, step: str) -> str:
        node = self.nodes.get(step)
        if node is None:
            raise ValidationError(f"reference to unknown step {step!r}")
        task_id = node.executed or node.job_id
        if not task_id:
            raise ValidationError(f"step {step!r} has not run, so it cannot be referenced yet")
        return task_id

    def __call__(self, ref: refs.Ref) -> Any:
        if ref.kind == "pipeline":
            if ref.path[0] not in self.args:
                raise ValidationError(f"{ref.text}: unknown pipeline argument")
            return self.args[ref.path[0]]
        task_id = self.task_of(ref.step)
        if ref.kind == "id":
            return task_id
        if ref.kind == "return":
            return Output(task_id, ref.path[0])
        if ref.kind == "artifacts":
            return self._artifact(ref, task_id)
        if ref.kind == "parameters":
            params = self.backend.get_parameters(task_id)
            if ref.path[0] not in params:
                raise ValidationError(f"{ref.text}: step {ref.step!r} has no parameter {ref.path[0]!r}")
            return params[ref.path[0]].value
        if ref.kind == "models":
            return self._model(ref, task_id)
        return self._field(ref, self.backend.get_task(task_id))

    def _artifact(self, ref: refs.Ref, task_id: str) -> Any:
        name, *attrs = ref.path
        record = find_artifact(self.backend, task_id, name)
        if record is None:
            raise ValidationError(f"{ref.text}: step {ref.step!r} has no artifact {name!r}")
        attr = attrs[0] if attrs else "url"
        if attr == "url":  # what Artifact.url gives (a server's download URL for its own storage)
            return urls.artifact_url(self.backend, record) or f"inline://{task_id}/{name}"
        if attr == "timestamp":
            return record.timestamp
        return getattr(record, attr)

    def _model(self, ref: refs.Ref, task_id: str) -> Any:
        role, index, attr = ref.path
        links = [link for link in self.backend.get_task_models(task_id) if link.role == role]
        try:
            link = links[int(index)]
        except IndexError:
            raise ValidationError(
                f"{ref.text}: step {ref.step!r} has {len(links)} {role} model(s), no index {index}"
            ) from None
        model: ModelRecord = self.backend.get_model(link.model_id)
        value = urls.model_url(self.backend, model) if attr == "url" else getattr(model, attr)
        return value

    def _field(self, ref: refs.Ref, task: TaskRecord) -> Any:
        value: Any = getattr(task, ref.kind if ref.kind != "execution" else "script", None)
        if ref.kind == "execution":
            value = {"queue": task.queue, **task.script}
        for part in ref.path:
            if not isinstance(value, Mapping) or part not in value:
                raise ValidationError(f"{ref.text}: step {ref.step!r} has no field {ref.kind}.{part}")
            value = value[part]
        return value


def to_outputs(value: Any, live: Callable[[Any], Output | None]) -> Any:
    """Replace live upstream values (decorator lazies) by the `Output`s they stand for, in any
    container."""
    found = live(value)
    if found is not None:
        return found
    if isinstance(value, list):
        return [to_outputs(v, live) for v in value]
    if isinstance(value, tuple):
        return tuple(to_outputs(v, live) for v in value)
    if isinstance(value, dict):
        return {k: to_outputs(v, live) for k, v in value.items()}
    return value


def input_hashes(backend: Backend, value: Any, where: str, out: dict[str, str]) -> None:
    """Collect the content hash of every upstream output `value` points at."""
    for place, output in outputs_in(value, where):
        record = find_artifact(backend, output.task_id, output.name)
        out[place] = record.hash if record is not None else json.dumps(load_output(backend, output))


def without_outputs(value: Any) -> Any:
    """What a cache key sees of a value: outputs stand for their (separately hashed) inputs."""
    if isinstance(value, Output):
        return "<input>"
    if isinstance(value, (list, tuple)):
        return [without_outputs(v) for v in value]
    if isinstance(value, dict):
        return {k: without_outputs(v) for k, v in value.items()}
    return value


def cache_inputs(backend: Backend, step: StepSpec, params: Mapping[str, Any], code: str) -> Any:
    """What the step's cache key covers: its code, parameters, inputs, environment and
    configuration; a task step's also those its base task brings (ClearML's key covers the whole
    task: anything in its Configuration section, every parameter)."""
    from ductwork.core import cachekey

    hashes: dict[str, str] = {}
    plain: dict[str, Any] = {}
    for key, value in params.items():
        input_hashes(backend, value, key, hashes)
        plain[key] = without_outputs(value)
    options = step.options
    requirements: list[str] | str = list(
        (options.packages if options.packages is not None else getattr(step.code, "requirements", [])) or []
    )
    configuration = {name: config_text(config) for name, config in step.configurations.items()}
    if step.code is None and step.base_task_id:
        base = backend.get_task(step.base_task_id)
        stored = {key: param.value for key, param in backend.get_parameters(base.id).items()}
        plain = {**stored, **plain}
        own = {name: config.text for name, config in backend.get_configurations(base.id).items()}
        configuration = {**own, **configuration}
        requirements = requirements or str(base.requirements.get("pip") or "")
    if options.repository is not None:  # the repository at its commit is part of the step's code
        code = json.dumps({"code": code, **options.repository.script_part()}, sort_keys=True)
    return cachekey.CacheInputs(
        code=code,
        parameters=plain,
        input_hashes=hashes,
        requirements=requirements,
        container={
            **options.container,
            **({"image": options.explicit_docker_image} if options.explicit_docker_image else {}),
        },
        configuration=configuration,
    )


def config_text(config: str | Mapping[str, Any]) -> str:
    """A configuration override as its task stores it: text as given, a dict as indented JSON."""
    return config if isinstance(config, str) else json.dumps(config, indent=2)


def previous_attempt(backend: Backend, project: str | None, node: Node) -> TaskRecord | None:
    """The newest earlier task of the same step, to explain a cache miss against."""
    found = backend.query_tasks(
        TaskQuery(project=project, runtime={STEP: node.name}, order_by="-created", limit=1, archived=None)
    )
    return found[0] if found else None


def function_task(
    step: StepSpec,
    *,
    project: str | None,
    parent: str,
    output_uri: str | None,
    user_tags: list[str],
) -> TaskRecord:
    code, options = step.code, step.options
    if code is None:
        raise ValidationError(f"step {step.name!r} has no code to run")
    return TaskRecord(
        name=options.task_name or step.name,
        project=project,
        type=options.task_type or "training",
        parent=parent,
        tags=[*options.tags, *user_tags],
        script={
            "module": RUNNER,
            "code": code.source,
            "function": code.name,
            "entry_point": f"{step.name}.py",
            # Relative to the step's own folder wherever it lands (the controller's folder in
            # local mode): never this machine's absolute path.
            "working_dir": launch.working_folder(f"step {step.name!r}", options.working_dir, "working_dir"),
            "binary": f"python{sys.version_info.major}.{sys.version_info.minor}",
            # repo=: it runs inside this repository, `working_dir` relative to its root
            **(options.repository.script_part() if options.repository else {}),
        },
        requirements={
            "pip": "\n".join(list(options.packages) if options.packages is not None else code.requirements)
        },
        container=dict(options.container),
        runtime={RETURN_NAMES: list(step.return_names), STEP: step.name, RUN: parent},
        output_uri=output_uri,
    )


def typed_params(params: Mapping[str, Any]) -> dict[str, Param]:
    """A step's parameters as its task stores them: typed, each `Output` as its marker."""
    kept = {key: stored(value) for key, value in params.items()}
    kept.update(input_artifacts(params))
    return {key: Param(value=value, type=type(value).__name__) for key, value in kept.items()}


def input_artifacts(params: Mapping[str, Any]) -> dict[str, str]:
    """`kwargs_artifacts/<arg>` for each argument that is one upstream output (ClearML records
    only such whole-argument inputs, not outputs inside a list or dict)."""
    found: dict[str, str] = {}
    for key, value in params.items():
        section, _, name = key.partition("/")
        if section == STEP_ARGS and isinstance(value, Output):
            found[f"{INPUT_ARTIFACTS}/{name}"] = f"{value.task_id}.{value.name}"
    return found


def clone_task_step(
    backend: Backend, step: StepSpec, params: Mapping[str, Any], *, project: str | None, parent: str
) -> TaskRecord:
    """Task steps: a clone of the base task with its overrides applied."""
    if not step.base_task_id:
        raise ValidationError(f"step {step.name!r} has no base task")
    try:
        base = backend.get_task(step.base_task_id)
    except NotFound:
        raise ValidationError(f"step {step.name!r}: base task {step.base_task_id} does not exist") from None
    if step.clone_task or base.status != "created":
        task = backend.clone_task(
            base.id, name=step.options.task_name or step.name, project=project, parent=parent
        )
    else:
        task = base
    if params:
        backend.set_parameters(task.id, typed_params(params))
    for name, config in step.configurations.items():
        from ductwork.core.records import ConfigObject

        kind = "text" if isinstance(config, str) else "json"
        backend.set_configuration(task.id, name, ConfigObject(text=config_text(config), type=kind))
    changes = apply_overrides(task, step.task_overrides)
    changes["runtime"] = {**task.runtime, STEP: step.name, RUN: parent}
    if task.type == CONTROLLER_TYPE and PIPELINE_TAG in task.system_tags:
        # A pipeline as a step runs from its stored DAG and code, not its author's script.
        changes["script"] = {**task.script, **changes.get("script", {}), "module": REPLAY}
        changes["runtime"].pop(PIPELINE_HASH, None)
    if step.options.task_type:
        changes["type"] = step.options.task_type
    return backend.edit_task(task.id, changes)


def apply_overrides(task: TaskRecord, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """`{"script.branch": "main"}` or nested dicts -> changed top-level sections of `task`."""
    changes: dict[str, Any] = {}
    for path, value in flatten(overrides, sep=".").items():
        section, _, rest = path.partition(".")
        if section not in (
            "script",
            "container",
            "requirements",
            "runtime",
            "name",
            "comment",
            "tags",
            "output_uri",
        ):
            raise ValidationError(f"task override {path!r}: unknown task field {section!r}")
        if not rest:
            changes[section] = value
            continue
        current = dict(changes.get(section) or getattr(task, section) or {})
        target = current
        *parents, leaf = rest.split(".")
        for key in parents:
            target = target.setdefault(key, {})
        target[leaf] = value
        changes[section] = current
    if "output_uri" in changes:
        changes["output_uri"] = changes["output_uri"] or None
    return changes
