"""Stored runs: a pipeline rebuilt from its controller task (`get`, `clone`), enqueued, resumed
from its failed steps, or replayed as a step of another pipeline."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ductwork import client
from ductwork.core.errors import NotFound, ValidationError
from ductwork.core.queries import TaskQuery
from ductwork.core.records import NodeState, Param, QueueEntry, TaskRecord, TaskTypes
from ductwork.core.runformat import (
    CONTROLLER_QUEUE,
    HIDDEN_TAG,
    PIPELINE_TAG,
    PIPELINES_FOLDER,
    SETTING_ADD_PIPELINE_TAGS,
    SETTING_DEFAULT_QUEUE,
    SETTING_TARGET_PROJECT,
    VERSION,
    VERSION_PARAM,
    args_of,
    dag_texts,
    runs_project,
)
from ductwork.core.states import NODE_SUCCESS, NodeStatus, TaskStatus
from ductwork.pipelines import creating
from ductwork.pipelines.heartbeat import settle_dead
from ductwork.pipelines.options import (
    param_value,
    version_ok,
)
from ductwork.pipelines.pipeline import PipelineBase
from ductwork.pipelines.running import RunOwning
from ductwork.pipelines.stored import nodes_from_config

_Loaded = TypeVar("_Loaded", bound="StoredRuns")


class StoredRuns(RunOwning):
    def _load_stored_dag(self) -> None:
        """`always_create_from_code=False`: the stored `Pipeline` configuration (edits included)
        wins over the code; a continued run keeps the steps that already succeeded."""
        configs = self._backend.get_configurations(self._task.id)
        texts = dag_texts(configs)
        if not texts:
            return
        self._dag_text.stored_parts(len(texts))  # a shorter DAG written here ends them
        if not self._always_create_from_code:
            self._nodes = nodes_from_config(_merged(texts), configs, keep=self._nodes)
        self._reuse_finished()

    def _reuse_finished(self) -> None:
        states = {state.name: state for state in self._backend.get_nodes(self._task.id)}
        ended = self._completed_tasks(states.values())
        for name, node in self._nodes.items():
            state = states.get(name)
            if state is None and node.status in NODE_SUCCESS:
                node.status = NodeStatus.pending  # a clone: its copied DAG never ran here
            elif (
                state is not None
                and state.task_id
                and (state.status in NODE_SUCCESS or state.task_id in ended)
            ):
                status = state.status if state.status in NODE_SUCCESS else NodeStatus.completed
                node.status, node.executed, node.job_id = status, state.task_id, state.task_id
                node.job_started, node.job_ended = state.started, state.ended
                node.cache_note = node.cache_note or "reused from the earlier attempt of this run"
            elif node.status in NODE_SUCCESS and not node.executed:
                node.status = NodeStatus.pending

    def _completed_tasks(self, states: Iterable[NodeState]) -> set[str]:
        """The tasks of steps whose state was not written as ended, but which did complete: the
        run's process died after its step recorded its end and before the run's next write of
        its states (they are written a window late). Their results are stored: reused."""
        ids = [state.task_id for state in states if state.status not in NODE_SUCCESS and state.task_id]
        done = [TaskStatus.completed.value, TaskStatus.published.value]
        ended: set[str] = set()
        for i in range(0, len(ids), _ASKED_AT_ONCE):  # one query a few hundred steps, not one a step
            query = TaskQuery(ids=ids[i : i + _ASKED_AT_ONCE], status=done, archived=None)
            ended.update(task.id for task in self._backend.query_tasks(query))
        return ended

    @classmethod
    def _from_task(cls: type[_Loaded], record: TaskRecord) -> _Loaded:
        self = cls.__new__(cls)
        params = client.backend().get_parameters(record.id)
        self._init_loaded(record, params)
        return self

    def _init_loaded(self, record: TaskRecord, params: Mapping[str, Param]) -> None:
        project_full = client.backend().get_project(record.project).name if record.project else ""
        base_project, _, name = project_full.partition(f"/{PIPELINES_FOLDER}/")
        self._name = name or record.name.split(" #")[0]
        self._project_name = base_project
        self._version = str(record.runtime.get(VERSION) or "") or None
        self._auto_version_bump = None
        self._add_pipeline_tags = bool(param_value(params, SETTING_ADD_PIPELINE_TAGS, False))
        self._target_project = param_value(params, SETTING_TARGET_PROJECT, True)
        self._abort_on_failure = False
        self._add_run_number = True
        self._retry = None
        self._always_create_from_code = False
        self._serialize_fn = self._deserialize_fn = None
        self._output_uri = record.output_uri
        self._skip_global_imports = False
        self._working_dir = record.script.get("working_dir")
        self._enable_local_imports = True
        self._container = dict(record.container)
        self._packages = None
        self._repo = {}
        self._fresh_state()
        self._args = args_of(params)
        self._default_queue = param_value(params, SETTING_DEFAULT_QUEUE, None)
        self._task = record
        self._remote = False
        configs = self._backend.get_configurations(record.id)
        self._nodes = nodes_from_config(_merged(dag_texts(configs)), configs, keep={})

    @classmethod
    def get(
        cls: type[_Loaded],
        pipeline_id: str | None = None,
        pipeline_project: str | None = None,
        pipeline_name: str | None = None,
        pipeline_version: str | None = None,
        pipeline_tags: Sequence[str] | None = None,
        shallow_search: bool = False,
    ) -> _Loaded:
        backend = client.backend()
        if pipeline_id:
            if pipeline_project or pipeline_name:
                raise ValidationError("PipelineController.get: give pipeline_id, or project + name, not both")
            return cls._from_task(backend.get_task(pipeline_id))
        if not (pipeline_project and pipeline_name):
            raise ValidationError(
                "PipelineController.get: give pipeline_id, or pipeline_project + pipeline_name"
            )
        runs = backend.query_tasks(
            TaskQuery(
                project_name=runs_project(pipeline_project, pipeline_name),
                type=[TaskTypes.controller],
                system_tags=[PIPELINE_TAG],
                tags=list(pipeline_tags) if pipeline_tags else None,
                archived=None,
                order_by="-updated",
            )
        )
        if pipeline_version is not None:
            runs = [r for r in runs if r.runtime.get(VERSION) == pipeline_version]
        if not runs:
            wanted = f"{pipeline_project}/{pipeline_name}" + (
                f" version {pipeline_version}" if pipeline_version else ""
            )
            raise NotFound(f"no pipeline run found for {wanted}")
        if pipeline_version is None:
            from ductwork.core import version

            versions = [str(r.runtime.get(VERSION)) for r in runs if r.runtime.get(VERSION)]
            if versions:
                best = version.max_version(versions)
                runs = [r for r in runs if r.runtime.get(VERSION) == best] or runs
        return cls._from_task(runs[0])

    @classmethod
    def create(
        cls: type[_Loaded],
        project_name: str,
        task_name: str,
        repo: str | None = None,
        branch: str | None = None,
        commit: str | None = None,
        script: str | None = None,
        working_directory: str | None = None,
        packages: bool | Sequence[str] | None = None,
        requirements_file: str | Path | None = None,
        docker: str | None = None,
        docker_args: str | None = None,
        docker_bash_setup_script: str | None = None,
        argparse_args: Sequence[tuple[str, str]] | None = None,
        force_single_script_file: bool = False,
        version: str | None = None,
        add_run_number: bool = True,
        binary: str | None = None,
        module: str | None = None,
        detect_repository: bool = True,
    ) -> _Loaded:
        """A pipeline run, not started, whose controller is the given code (a script, a module, a
        repository): `PipelineController.enqueue` it and an agent runs it. Its project is
        `<project_name>/.pipelines/<task_name>`, as a run's started here (see `creating`)."""
        code = dict(
            repo=repo,
            branch=branch,
            commit=commit,
            script=script,
            working_directory=working_directory,
            packages=packages,
            requirements_file=requirements_file,
            docker=docker,
            docker_args=docker_args,
            docker_bash_setup_script=docker_bash_setup_script,
            argparse_args=argparse_args,
            force_single_script_file=force_single_script_file,
            binary=binary,
            module=module,
            detect_repository=detect_repository,
        )
        return cls._from_task(
            creating.controller_draft(project_name, task_name, version, add_run_number, code)
        )

    @classmethod
    def clone(
        cls: type[_Loaded],
        pipeline_controller: PipelineBase | str,
        name: str | None = None,
        comment: str | None = None,
        parent: str | None = None,
        project: str | None = None,
        version: str | None = None,
    ) -> _Loaded:
        backend = client.backend()
        source = (
            pipeline_controller._task.id
            if isinstance(pipeline_controller, PipelineBase)
            else pipeline_controller
        )
        project_id = (
            backend.ensure_project(project, system_tags=[PIPELINE_TAG, HIDDEN_TAG]).id if project else None
        )
        record = backend.clone_task(source, name=name, project=project_id, parent=parent)
        changes: dict[str, Any] = {"system_tags": [PIPELINE_TAG], "runtime": {}}
        if comment is not None:
            changes["comment"] = comment
        if version is not None:
            if not version_ok(version):
                raise ValidationError(f"pipeline version {version!r} is not a version like 1.0.0")
            changes["runtime"] = {VERSION: version}
            backend.set_parameters(record.id, {VERSION_PARAM: Param(version, "str")})
        record = backend.edit_task(record.id, changes)
        return cls._from_task(record)

    @classmethod
    def enqueue(
        cls,
        pipeline_controller: PipelineBase | str,
        queue_name: str | None = None,
        queue_id: str | None = None,
        force: bool = False,
    ) -> QueueEntry:
        """Enqueue a pipeline run (default queue `services`, where controllers run)."""
        from ductwork.sdk.task import Task

        task_id = (
            pipeline_controller._task.id
            if isinstance(pipeline_controller, PipelineBase)
            else pipeline_controller
        )
        if queue_name is None and queue_id is None:
            queue_name = CONTROLLER_QUEUE
        if queue_name is not None:
            client.backend().ensure_queue(queue_name)
        return Task.enqueue(task_id, queue_name=queue_name, queue_id=queue_id, force=force)

    @classmethod
    def resume(cls: type[_Loaded], run_id: str, run_pipeline_steps_locally: bool = True) -> _Loaded:
        """Run a failed or aborted run again from its failed steps, reusing every step that succeeded."""
        backend = client.backend()
        record = backend.get_task(run_id)
        if record.type != TaskTypes.controller:
            raise ValidationError(f"task {run_id} is not a pipeline run (its type is {record.type})")
        if record.status == TaskStatus.in_progress and run_id in settle_dead(backend):
            record = backend.get_task(run_id)
        if record.status in (TaskStatus.in_progress, TaskStatus.queued):
            raise ValidationError(f"run {run_id} is still {record.status}; stop it before resuming")
        pipe = cls._from_task(record)
        pipe._replay("local" if run_pipeline_steps_locally else "queue")
        return pipe

    def _replay(self, mode: str) -> None:
        """Run this stored pipeline (a resumed run, or a clone run as a step) from its stored
        DAG and code, reusing the steps of this run that already succeeded."""
        self._reuse_finished()
        for node in self._nodes.values():
            if node.status not in NODE_SUCCESS:
                fresh = node.copy()
                fresh.code, fresh.function = node.code, node.function
                self._nodes[node.name] = fresh
        self._execute(mode)


_ASKED_AT_ONCE = 500  # task ids in one query: well within the store's bound on a list


def _merged(texts: list[str]) -> dict[str, Any]:
    """The stored DAG's parts as one: step name -> its entry."""
    dag: dict[str, Any] = {}
    for text in texts:
        dag.update(json.loads(text))
    return dag
