"""`PipelineController`: a DAG of steps and the controller task that runs it.

Public names and arguments follow ClearML's PipelineController; the inside is ours: one
event-driven scheduler (`engine`) for every mode, steps prepared by `run.Run`, executors for
in-process, local-process and queued steps. Where ClearML has known quirks (cached steps are not
"successful", `continue_behaviour` defaults, time limits that let children run, the 12 s polling
loop, swapped callbacks) we do what its documentation promises.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ductwork import client
from ductwork.core import dag, launch, refs, settings
from ductwork.core.arguments import check_json
from ductwork.core.errors import Conflict, NotFound, ValidationError
from ductwork.core.queries import TaskQuery
from ductwork.core.records import ConfigObject, ConsoleLine, Param, TaskRecord, TaskTypes
from ductwork.core.runformat import (
    ARGS,
    CODE_DESCRIPTION,
    DAG_CONFIG,
    HIDDEN_TAG,
    PIPELINE_TAG,
    SETTING_ADD_PIPELINE_TAGS,
    SETTING_DEFAULT_QUEUE,
    SETTING_TARGET_PROJECT,
    STEP_ARGS,
    VERSION_PARAM,
    arg_key,
    args_of,
)
from ductwork.core.states import NODE_SUCCESS, NodeStatus, TaskStatus
from ductwork.pipelines.node import Node as StepNode
from ductwork.pipelines.options import (
    check_serializable,
    container,
    max_workers,
    need_text,
    package_list,
    param_value,
    user_name,
    version_ok,
)
from ductwork.pipelines.run import Heartbeat, Run, RunSettings, config_object, settle_dead
from ductwork.pipelines.spec import RetryPolicy, StepCode, StepOptions, StepSpec, step_options
from ductwork.pipelines.stored import nodes_from_config, uncaptured

DEFAULT_VERSION = "1.0.0"


class PipelineController:
    Node = StepNode

    def __init__(
        self,
        name: str,
        project: str,
        version: str | None = None,
        pool_frequency: float = 0.2,
        add_pipeline_tags: bool = False,
        target_project: str | bool | None = True,
        auto_version_bump: bool | None = None,
        abort_on_failure: bool = False,
        add_run_number: bool = True,
        retry_on_failure: RetryPolicy = None,
        docker: str | None = None,
        docker_args: str | None = None,
        docker_bash_setup_script: str | None = None,
        packages: bool | str | Sequence[str] | None = None,
        repo: str | None = None,
        repo_branch: str | None = None,
        repo_commit: str | None = None,
        always_create_from_code: bool = True,
        artifact_serialization_function: Callable[[Any], bytes] | None = None,
        artifact_deserialization_function: Callable[[bytes], Any] | None = None,
        output_uri: str | bool | None = None,
        skip_global_imports: bool = False,
        working_dir: str | None = None,
        enable_local_imports: bool = True,
    ) -> None:
        need_text("name", name)
        need_text("project", project)
        if version is not None and not version_ok(version):
            raise ValidationError(f"pipeline version {version!r} is not a version like 1.0.0")
        self._name = name
        self._project_name = project
        self._version = version
        self._auto_version_bump = auto_version_bump
        self._add_pipeline_tags = add_pipeline_tags
        self._target_project = target_project
        self._abort_on_failure = abort_on_failure
        self._add_run_number = add_run_number
        self._retry: RetryPolicy = retry_on_failure
        self._always_create_from_code = always_create_from_code
        self._serialize_fn = artifact_serialization_function
        self._deserialize_fn = artifact_deserialization_function
        self._output_uri = output_uri if isinstance(output_uri, str) else None
        self._skip_global_imports = skip_global_imports
        self._working_dir = working_dir
        self._enable_local_imports = enable_local_imports
        self._container = container(docker, docker_args, docker_bash_setup_script)
        self._packages = package_list(packages)
        self._repo = {"repository": repo, "branch": repo_branch, "commit": repo_commit} if repo else {}
        self._nodes: dict[str, StepNode] = {}
        self._args: dict[str, Param] = {}
        self._arg_sections: dict[str, str] = {}  # decorator `args_map`: argument -> section
        self._default_queue: str | None = None
        self._time_limit: float | None = None  # seconds
        self._callbacks: dict[str, Callable[..., Any] | None] = {}
        self._refresh_steps: set[str] = set()
        self._run: Run | None = None
        self._started_at: float | None = None
        self._early_stop: str | None = None  # a stop asked before the run began
        self._lock = threading.Lock()
        self._backend = client.backend()
        self._task = self._attach_or_create()

    # ---- the controller task

    def _attach_or_create(self) -> TaskRecord:
        """Under an agent the controller task already exists: attach to it. Else create one."""
        own = settings.task_id()
        if own:
            record = self._backend.get_task(own)
            if record.type == TaskTypes.controller and PIPELINE_TAG in record.system_tags:
                self._remote = True
                return record
        self._remote = False
        from ductwork.sdk import current

        running = current.get()  # a pipeline started from inside a task (a step, a pipeline)
        own = running.id if running is not None else own
        project = self._backend.ensure_project(self.runs_project, system_tags=[PIPELINE_TAG, HIDDEN_TAG])
        record = TaskRecord(
            name=self._run_name(project.id),
            project=project.id,
            type=TaskTypes.controller,
            system_tags=[PIPELINE_TAG],
            parent=own,
            user=user_name(),
            script=self._script(),
            requirements={"pip": "\n".join(self._packages or [])},
            container=dict(self._container),
            output_uri=self._output_uri,
        )
        return self._backend.create_task(record)

    @property
    def runs_project(self) -> str:
        return f"{self._project_name}/.pipelines/{self._name}"

    def _run_name(self, project_id: str) -> str:
        if not self._add_run_number:
            return self._name
        pattern = f"^{re.escape(self._name)}( #[0-9]+)?$"
        count = self._backend.count_tasks(
            TaskQuery(project=project_id, name_pattern=pattern, type=[TaskTypes.controller], archived=None)
        )
        return self._name if count == 0 else f"{self._name} #{count + 1}"

    def _script(self) -> dict[str, Any]:
        """The user's script, so an agent can run this controller again."""
        from ductwork.sdk import script as scripts

        main = sys.modules.get("__main__")
        path = getattr(main, "__file__", None)
        script: dict[str, Any] = dict(self._repo)
        # Where the controller runs on an agent: relative to its code, never this machine's
        # folder: the script's folder in the repository it names, else the agent's own folder.
        folder = launch.working_folder(f"pipeline {self._name!r}", self._working_dir, "working_dir")
        if self._working_dir is None and self._repo and path and os.path.isfile(path):
            folder = scripts.folder_in_repository(path)
        script["working_dir"] = folder
        script["binary"] = f"python{sys.version_info.major}.{sys.version_info.minor}"
        if path and os.path.isfile(path):
            script["entry_point"] = os.path.basename(path)
            try:
                with open(path, encoding="utf-8") as handle:
                    script["code"] = handle.read()
            except OSError:
                pass
        script["args"] = sys.argv[1:]
        return script

    # ---- definition

    def set_default_execution_queue(self, default_execution_queue: str | None) -> None:
        self._default_queue = default_execution_queue

    def set_pipeline_execution_time_limit(self, max_execution_minutes: float | None) -> None:
        self._time_limit = float(max_execution_minutes) * 60 if max_execution_minutes else None

    def add_parameter(
        self, name: str, default: Any = None, description: str | None = None, param_type: str | None = None
    ) -> None:
        need_text("parameter name", name)
        check_json(default, f"pipeline parameter {name!r}")
        self._args[name] = Param(
            value=default, type=param_type or type(default).__name__, description=description or ""
        )

    def get_parameters(self) -> dict[str, Any]:
        return self._args_values()

    def _args_values(self) -> dict[str, Any]:
        return {name: param.value for name, param in self._args.items()}

    def connect_configuration(
        self,
        configuration: Mapping[str, Any] | list[Any] | str,
        name: str | None = None,
        description: str | None = None,
    ) -> Any:
        return self.task.connect_configuration(configuration, name=name, description=description)

    def add_step(
        self,
        name: str,
        base_task_id: str | None = None,
        parents: Sequence[str] | None = None,
        parameter_override: Mapping[str, Any] | None = None,
        configuration_overrides: Mapping[str, str | Mapping[str, Any]] | None = None,
        task_overrides: Mapping[str, Any] | None = None,
        execution_queue: str | None = None,
        monitor_metrics: list[Any] | None = None,
        monitor_artifacts: list[Any] | None = None,
        monitor_models: list[Any] | None = None,
        time_limit: float | None = None,
        base_task_project: str | None = None,
        base_task_name: str | None = None,
        clone_base_task: bool = True,
        continue_on_fail: bool = False,
        pre_execute_callback: Callable[..., Any] | None = None,
        post_execute_callback: Callable[..., Any] | None = None,
        cache_executed_step: bool = False,
        base_task_factory: Callable[[StepNode], Any] | None = None,
        retry_on_failure: RetryPolicy = None,
        status_change_callback: Callable[..., Any] | None = None,
        recursively_parse_parameters: bool = False,
        output_uri: str | bool | None = None,
        continue_behaviour: dict[str, bool] | None = None,
        stage: str | None = None,
    ) -> bool:
        self._check_new_name(name)
        if base_task_id is None and base_task_factory is None:
            if not (base_task_project and base_task_name):
                raise ValidationError(
                    f"step {name!r}: give base_task_id, base_task_factory, "
                    "or base_task_project + base_task_name"
                )
            base_task_id = self._find_base_task(name, base_task_project, base_task_name)
        elif base_task_id is not None:
            try:
                self._backend.get_task(base_task_id)
            except NotFound:
                raise ValidationError(f"step {name!r}: base task {base_task_id} does not exist") from None
        overrides = dict(parameter_override or {})
        for key in overrides:
            if not isinstance(key, str) or "/" not in key:
                raise ValidationError(
                    f"step {name!r} parameter_override {key!r}: name it 'Section/key' (e.g. 'General/{key}')"
                )
        configurations = dict(configuration_overrides or {})
        for key, value in configurations.items():
            if not isinstance(value, (str, Mapping)):
                raise ValidationError(
                    f"step {name!r} configuration_overrides[{key!r}] must be a str or a dict, "
                    f"not {type(value).__name__}"
                )
        options = step_options(
            name,
            execution_queue=execution_queue,
            cache=cache_executed_step,
            retry_on_failure=retry_on_failure,
            time_limit=time_limit,
            monitor_metrics=monitor_metrics,
            monitor_artifacts=monitor_artifacts,
            monitor_models=monitor_models,
            pre_execute_callback=pre_execute_callback,
            post_execute_callback=post_execute_callback,
            status_change_callback=status_change_callback,
            continue_on_fail=continue_on_fail,
            continue_behaviour=continue_behaviour,
            output_uri=output_uri,
            stage=stage,
        )
        spec = StepSpec(
            name=name,
            kind="task",
            parents=tuple(parents or ()),
            parameters=overrides,
            options=options,
            base_task_id=base_task_id,
            task_factory=base_task_factory,
            clone_task=clone_base_task,
            configurations=configurations,
            task_overrides=dict(task_overrides or {}),
            recursively_parse_parameters=recursively_parse_parameters,
        )
        self._nodes[name] = StepNode(spec=spec)
        return True

    def _find_base_task(self, step: str, project: str, task_name: str) -> str:
        found = self._backend.query_tasks(
            TaskQuery(
                project_name=project,
                name=task_name,
                status=[s.value for s in TaskStatus if s != TaskStatus.failed],
                archived=None,
                order_by="-updated",
                limit=1,
            )
        )
        if not found:
            raise ValidationError(
                f"step {step!r}: no task named {task_name!r} in project {project!r} "
                "(base_task_project/base_task_name)"
            )
        return found[0].id

    def add_function_step(
        self,
        name: str,
        function: Callable[..., Any],
        function_kwargs: Mapping[str, Any] | None = None,
        function_return: Sequence[str] | None = None,
        project_name: str | None = None,
        task_name: str | None = None,
        task_type: str | None = None,
        auto_connect_frameworks: dict[str, Any] | None = None,
        auto_connect_arg_parser: dict[str, Any] | None = None,
        packages: bool | str | Sequence[str] | None = None,
        repo: str | None = None,
        repo_branch: str | None = None,
        repo_commit: str | None = None,
        helper_functions: Sequence[Callable[..., Any]] | None = None,
        docker: str | None = None,
        docker_args: str | None = None,
        docker_bash_setup_script: str | None = None,
        parents: Sequence[str] | None = None,
        execution_queue: str | None = None,
        monitor_metrics: list[Any] | None = None,
        monitor_artifacts: list[Any] | None = None,
        monitor_models: list[Any] | None = None,
        time_limit: float | None = None,
        continue_on_fail: bool = False,
        pre_execute_callback: Callable[..., Any] | None = None,
        post_execute_callback: Callable[..., Any] | None = None,
        cache_executed_step: bool = False,
        retry_on_failure: RetryPolicy = None,
        status_change_callback: Callable[..., Any] | None = None,
        tags: Sequence[str] | str | None = None,
        output_uri: str | bool | None = None,
        draft: bool | None = False,
        working_dir: str | None = None,
        continue_behaviour: dict[str, bool] | None = None,
        stage: str | None = None,
    ) -> bool:
        self._check_new_name(name)
        options = step_options(
            name,
            execution_queue=execution_queue,
            cache=cache_executed_step,
            retry_on_failure=retry_on_failure,
            time_limit=time_limit,
            monitor_metrics=monitor_metrics,
            monitor_artifacts=monitor_artifacts,
            monitor_models=monitor_models,
            pre_execute_callback=pre_execute_callback,
            post_execute_callback=post_execute_callback,
            status_change_callback=status_change_callback,
            continue_on_fail=continue_on_fail,
            continue_behaviour=continue_behaviour,
            output_uri=output_uri,
            docker=docker,
            docker_args=docker_args,
            docker_bash_setup_script=docker_bash_setup_script,
            packages=packages,
            working_dir=working_dir,
            tags=tags,
            stage=stage,
            draft=draft,
            task_type=task_type,
            task_name=task_name,
            project_name=project_name,
        )
        spec = self._function_spec(name, function, options, helper_functions, function_return)
        kwargs = self._function_kwargs(name, function, function_kwargs)
        parameters = {f"{STEP_ARGS}/{k}": v for k, v in kwargs.items()}
        spec = dataclasses.replace(spec, parents=tuple(parents or ()), parameters=parameters)
        self._nodes[name] = StepNode(spec=spec)
        return True

    def _function_spec(
        self,
        name: str,
        function: Callable[..., Any],
        options: StepOptions,
        helper_functions: Sequence[Callable[..., Any]] | None,
        returns: Sequence[str] | str | None,
    ) -> StepSpec:
        """A function step: its code captured now (with the pipeline's artifact functions)."""
        if not callable(function):
            raise ValidationError(f"step {name!r}: function must be callable, not {type(function).__name__}")
        from ductwork import codegen
        from ductwork.pipelines.runner import codec_bindings

        capture_error = ""
        code: StepCode
        try:
            code = codegen.capture(
                function,
                helper_functions=tuple(helper_functions or ()),
                skip_global_imports=self._skip_global_imports,
                bindings=codec_bindings(self._serialize_fn, self._deserialize_fn),
            )
        except ValidationError as exc:
            # A function typed into a REPL or notebook has no source file: it can still run as a
            # plain call (debug mode); any other mode says why it cannot before anything runs.
            capture_error = f"step {name!r}: {exc}"
            code = uncaptured(function, capture_error)
        names = [returns] if isinstance(returns, str) else list(returns or [])
        for item in names:
            need_text(f"step {name!r} return name", item)
        options = dataclasses.replace(options, task_type=options.task_type or TaskTypes.training)
        return StepSpec(
            name=name,
            kind="function",
            options=options,
            function=function,
            code=code,
            capture_error=capture_error,
            return_names=tuple(names),
            clone_task=False,
        )

    def _function_kwargs(
        self, step: str, function: Callable[..., Any], given: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        import inspect

        signature = inspect.signature(function)
        open_kwargs = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
        kwargs = dict(given or {})
        for key in kwargs:
            if key not in signature.parameters and not open_kwargs:
                raise ValidationError(
                    f"step {step!r}: function {function.__name__}() has no argument {key!r}"
                )
        for param in signature.parameters.values():
            if param.default is not param.empty and param.kind not in (
                param.VAR_KEYWORD,
                param.VAR_POSITIONAL,
            ):
                kwargs.setdefault(param.name, param.default)
        missing = [
            p.name
            for p in signature.parameters.values()
            if p.default is p.empty
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            and p.name not in kwargs
        ]
        if missing:
            raise ValidationError(f"step {step!r}: no value for argument(s) {', '.join(map(repr, missing))}")
        for key, value in kwargs.items():
            try:
                check_json(value, f"step {step!r} argument {key!r}")
            except ValidationError:
                check_serializable(step, key, value)
        return kwargs

    def _check_new_name(self, name: str) -> None:
        dag.check_name(name)
        if name in self._nodes:
            raise ValidationError(f"step name {name!r} is used twice in pipeline {self._name!r}")

    # ---- validation and serialization

    def _verify(self, *, need_queues: bool, in_process: bool = False) -> None:
        returns: dict[str, Sequence[str] | None] = {
            name: (node.return_artifacts if node.is_function else None) for name, node in self._nodes.items()
        }
        args = set(self._args)
        for name, node in self._nodes.items():
            recursive = node.recursively_parse_parameters or node.is_function
            found: set[str] = set()
            for key, value in node.parameters.items():
                found |= refs.validate_refs(
                    value,
                    where=f"step {name!r} parameter {key!r}",
                    steps=returns,
                    pipeline_args=args,
                    recursive=recursive,
                )
            found |= refs.validate_refs(
                node.task_overrides,
                where=f"step {name!r} task_overrides",
                steps=returns,
                pipeline_args=args,
                recursive=True,
            )
            if node.queue:
                found |= refs.validate_refs(
                    node.queue, where=f"step {name!r} execution_queue", steps=returns, pipeline_args=args
                )
            missing = sorted(found - set(node.parents) - {name})
            if missing:  # a referenced step is a parent
                node.parents = [*node.parents, *missing]
        dag.validate({name: node.parents for name, node in self._nodes.items()})
        if not in_process:
            for node in self._nodes.values():
                if node.capture_error:
                    raise ValidationError(node.capture_error + " (only debug mode can run it)")
        if need_queues:
            for name, node in self._nodes.items():
                if not (node.queue or self._default_queue):
                    raise ValidationError(
                        f"step {name!r} has no execution queue and the pipeline has no default queue "
                        "(set execution_queue=... or pipe.set_default_execution_queue(...))"
                    )

    def _structure_hash(self) -> str:
        skip = {
            "executed",
            "status",
            "job_started",
            "job_ended",
            "job_id",
            "attempt",
            "cache_note",
            "skip_job",
        }
        shape = {
            name: {
                **{k: v for k, v in node.to_dict().items() if k not in skip},
                "code": getattr(node.code, "digest", None),
            }
            for name, node in self._nodes.items()
        }
        blob = json.dumps(
            {"nodes": shape, "args": {k: p.value for k, p in self._args.items()}}, sort_keys=True, default=str
        )
        return hashlib.sha256(blob.encode()).hexdigest()

    def _resolve_version(self, structure: str) -> str:
        if self._version:
            return self._version
        runs = self._backend.query_tasks(
            TaskQuery(
                project=self._task.project,
                type=[TaskTypes.controller],
                archived=None,
                order_by="-created",
                limit=200,
            )
        )
        earlier = [r for r in runs if r.id != self._task.id and r.runtime.get("version")]
        if not earlier:
            return DEFAULT_VERSION
        from ductwork.core import version

        if earlier[0].runtime.get("pipeline_hash") == structure:
            return str(earlier[0].runtime["version"])
        highest = version.max_version([str(r.runtime["version"]) for r in earlier])
        return version.bump(highest) if highest else DEFAULT_VERSION

    def _serialize(self) -> None:
        """Write what a rerun needs: arguments, the DAG, each function step's code, the version."""
        task_id = self._task.id
        if self._remote:
            self._pull_args()
        params = {self._arg_key(name): param for name, param in self._args.items()}
        params.update(
            {
                SETTING_DEFAULT_QUEUE: Param(self._default_queue, "str"),
                SETTING_ADD_PIPELINE_TAGS: Param(self._add_pipeline_tags, "bool"),
                SETTING_TARGET_PROJECT: Param(self._target_project, type(self._target_project).__name__),
            }
        )
        structure = self._structure_hash()
        resolved = self._task.runtime.get("version") if self._remote else None
        resolved = resolved or self._resolve_version(structure)
        params[VERSION_PARAM] = Param(resolved, "str")
        self._backend.set_parameters(task_id, params)
        for name, node in self._nodes.items():
            if node.code is not None:
                stored = {
                    "function": node.code.name,
                    "code": node.code.source,
                    "requirements": list(node.code.requirements),
                    "return": node.return_artifacts,
                    "digest": node.code.digest,
                }
                self._backend.set_configuration(
                    task_id, name, ConfigObject(json.dumps(stored, indent=1), "json", CODE_DESCRIPTION)
                )
        runtime = {**self._task.runtime, "version": resolved, "pipeline_hash": structure}
        self._task = self._backend.edit_task(task_id, {"runtime": runtime})
        self._write_dag()

    def _pull_args(self) -> None:
        """Under an agent, the stored arguments (a NEW RUN's edits) win over the code's defaults."""
        from ductwork.sdk.params import cast

        stored = self._backend.get_parameters(self._task.id)
        for name, param in self._args.items():
            edited = stored.get(self._arg_key(name))
            if edited is not None:
                param.value = (
                    cast(edited.value, param.value, self._arg_key(name))
                    if param.value is not None
                    else edited.value
                )

    def _arg_key(self, name: str) -> str:
        """Where argument `name` is stored: `Args/<name>`, or the section `args_map` gives it."""
        return arg_key(name, self._arg_sections.get(name, ARGS))

    def _write_dag(self) -> None:
        # A snapshot: decorator components may be added from another thread meanwhile.
        dag_json = {name: node.to_dict() for name, node in list(self._nodes.items())}
        self._backend.set_configuration(self._task.id, DAG_CONFIG, config_object(dag_json))

    # ---- running

    def start(
        self,
        queue: str | None = "services",
        step_task_created_callback: Callable[..., Any] | None = None,
        step_task_completed_callback: Callable[..., Any] | None = None,
        wait: bool = True,
    ) -> bool:
        """Run the controller on an agent (the local process leaves, as in ClearML).

        Under that agent, the same call runs the pipeline here with steps on their queues.
        `queue=None` leaves a draft that can be enqueued or rerun later."""
        self._callbacks = {"created": step_task_created_callback, "completed": step_task_completed_callback}
        if self._remote:
            self._load_stored_dag()
            self._execute("queue", wait=wait)
            return True
        self._verify(need_queues=True)
        self._serialize()
        if queue is None:
            print(f"[ductwork] pipeline draft saved: task {self._task.id}")
            return True
        self._enqueue_self(queue)
        sys.exit(0)

    def _enqueue_self(self, queue: str) -> None:
        self._backend.ensure_queue(queue)
        self._backend.enqueue(self._task.id, queue)
        listening = [w for w in self._backend.list_workers() if queue in w.queues]
        if not listening:
            note = f"no agent listens on queue {queue!r}: start one with `ductwork agent --queue {queue}`"
            self._backend.set_status(self._task.id, "queued", message=note)  # stays queued, says why
            self._backend.add_console([ConsoleLine(task_id=self._task.id, text=note, stream="ductwork")])
            print(f"[ductwork] {note}")
        print(f"[ductwork] pipeline {self._task.name!r} queued on {queue!r}: task {self._task.id}")

    def start_locally(self, run_pipeline_steps_locally: bool = False, in_process: bool = False) -> None:
        """Run the controller here; steps as local processes, or on their queues' agents.

        `in_process=True` (ductwork's debug mode for controllers): steps are plain function
        calls in this process, still recorded as tasks. Steps from existing tasks still run
        as processes."""
        if in_process and any(node.function is None for node in self._nodes.values()):
            raise ValidationError("in_process=True needs function steps only (add_function_step)")
        if self._remote:  # a continued run on an agent keeps the steps that already succeeded
            self._load_stored_dag()
        self._execute("debug" if in_process else "local" if run_pipeline_steps_locally else "queue")

    def create_draft(self) -> None:
        self._verify(need_queues=False)
        self._serialize()

    def _execute(self, mode: str, *, wait: bool = True) -> None:
        self._begin(mode)
        engine = self._live.engine
        for name in dag.topo_order({n: node.parents for n, node in self._nodes.items()}):
            engine.add(self._nodes[name])
        engine.seal()
        if wait:
            self._finish()

    def _begin(self, mode: str, *, verify: bool = True) -> None:
        if self._run is not None:
            raise ValidationError(f"pipeline {self._name!r} (task {self._task.id}) was already started")
        if verify:
            self._verify(need_queues=mode == "queue", in_process=mode == "debug")
        self._serialize()
        executor, inline = self._executor(mode)
        settings = self._run_settings()
        self._run = Run(settings, self._backend, executor, inline=inline, max_workers=max_workers(mode))
        self._run.stop_mark = self._early_stop
        self._task = self._backend.set_status(
            self._task.id, "in_progress", force=self._task.status != "created"
        )
        self._own(mode)
        self._started_at = time.time()
        if self._time_limit:
            timer = threading.Timer(self._time_limit, self._time_out)
            timer.daemon = True
            timer.start()
        self._live.engine.start()
        threading.Thread(target=self._watch_abort, name="ductwork-abort-watch", daemon=True).start()

    def _run_settings(self) -> RunSettings:
        return RunSettings(
            owner=self,
            controller=self._task,
            arguments=self._args_values(),
            nodes=self._nodes,
            step_project=self._step_project,
            refresh=self._refresh,
            write_dag=self._write_dag,
            default_queue=self._default_queue,
            output_uri=self._output_uri,
            retry=self._retry,
            abort_on_failure=self._abort_on_failure,
            serialize=self._serialize_fn,
            deserialize=self._deserialize_fn,
            step_tags=tuple(self._step_tags()),
            created_callback=self._callbacks.get("created"),
            completed_callback=self._callbacks.get("completed"),
        )

    @property
    def _live(self) -> Run:
        """The run this pipeline is running (it has begun)."""
        if self._run is None:
            raise ValidationError(f"pipeline {self._name!r} has not started")
        return self._run

    @property
    def _stop_mark(self) -> str | None:
        """Why the run stops ("aborted", "failed", "taken"): the run's, kept here until it begins."""
        return self._run.stop_mark if self._run is not None else self._early_stop

    @_stop_mark.setter
    def _stop_mark(self, mark: str | None) -> None:
        if self._run is not None:
            self._run.stop_mark = mark
        else:
            self._early_stop = mark

    def _own(self, mode: str) -> None:
        """Name this process as the one running the run and its local steps, so that they
        are settled (failed, with the reason) if it dies; settle what earlier ones left."""
        from ductwork.core import orphans

        settle_dead(self._backend)
        worker = ""
        if not self._remote:  # under an agent, the agent's own heartbeat stands for this process
            self._heartbeat = Heartbeat(self._backend, self._task.id)
            worker = self._heartbeat.start()
            owner = orphans.owner(worker, started=self._task.started)
            self._task = self._backend.edit_task(
                self._task.id, {"runtime": {**self._task.runtime, orphans.OWNER_KEY: owner}}
            )
        if mode in ("local", "debug"):
            self._live.step_owner = orphans.owner(worker)

    def _watch_abort(self, every: float = 0.5) -> None:
        """Stop when the run is aborted from outside (the web UI, `ductwork tasks abort`): its
        controller task turns `stopped` while this process still runs it."""
        run = self._live
        while not run.engine.finished.wait(every):
            try:
                record = self._backend.get_task(self._task.id)
            except Exception:
                continue  # a passing store error: look again next time
            if self._taken_over(record):
                self._stop_mark = "taken"
                run.log("the run was continued by another process; this one leaves it to that one")
                run.engine.stop("the pipeline run was continued elsewhere")
                return
            if record.status == TaskStatus.stopped:
                self._stop_mark = "aborted"
                run.log("the run was aborted from outside; stopping its steps")
                run.engine.stop("the pipeline run was aborted")
                return

    def _taken_over(self, record: TaskRecord) -> bool:
        """Whether someone else runs this run now: "Continue" (queued again, claimed by an
        agent: a new start) while this process still ran it, e.g. right after an abort it had
        not yet seen. This process must then leave the run's status alone."""
        if record.status in (TaskStatus.queued, TaskStatus.created):
            return True
        return record.status == TaskStatus.in_progress and record.started != self._task.started

    def _executor(self, mode: str) -> tuple[Any, bool]:
        from ductwork.pipelines import executors

        workers = max_workers(mode)
        if mode == "debug":
            return executors.InlineExecutor(self._backend, workers, serialize=self._serialize_fn), True
        if mode == "local":
            from ductwork.client.pipe import PipeServer

            self._pipe_server = PipeServer(self._backend)
            return executors.ProcessExecutor(
                self._backend, self._pipe_server.address, pythonpath=self._local_paths()
            ), False
        return executors.QueueExecutor(self._backend), False

    def _local_paths(self) -> list[str]:
        if not self._enable_local_imports:
            return []
        main = sys.modules.get("__main__")
        path = getattr(main, "__file__", None)
        folders = [os.path.dirname(os.path.abspath(path))] if path else []
        return [*folders, os.getcwd()]

    def _time_out(self) -> None:
        if self._run is not None and not self._live.engine.finished.is_set():
            self._stop_mark = "failed"
            self._live.log(f"pipeline time limit of {self._time_limit:g} s exceeded; stopping")
            self._live.engine.stop("pipeline time limit exceeded")

    def _finish(self) -> None:
        run = self._live
        run.engine.wait()
        run.executor.close()
        server = getattr(self, "_pipe_server", None)
        if server is not None:
            server.close()
        run.flush(list(self._nodes.values()))
        run.write_config()
        failed = [
            n.name
            for n in self._nodes.values()
            if n.status in ("failed", "aborted") and not n.continue_on_fail
        ]
        if run.engine.error is not None:
            self._close("failed", f"scheduler error: {run.engine.error!r}")
        elif self._stop_mark == "aborted":
            self._close("stopped", "Pipeline aborted")
        elif self._stop_mark == "failed" or failed:
            self._close(
                "failed",
                f"Pipeline step failed: {', '.join(failed)}" if failed else "Pipeline aborted and failed",
            )
        else:
            self._close("completed", "")
        beat = getattr(self, "_heartbeat", None)
        if beat is not None:
            beat.stop()

    def _close(self, status: str, reason: str) -> None:
        from ductwork.sdk.task import Task

        Task._from_record(self._task).flush(wait_for_uploads=True)
        if self._stop_mark == "taken" or self._taken_over(self._backend.get_task(self._task.id)):
            self._live.log("the run is being run by another process; its status is left to it")
            return
        try:
            # Only from running: a run aborted, continued or re-queued from outside meanwhile
            # keeps what was decided there.
            self._task = self._backend.set_status(
                self._task.id, status, reason=reason, force=True, expect=[TaskStatus.in_progress.value]
            )
        except Conflict:
            self._task = self._backend.get_task(self._task.id)
            self._live.log(f"the run is {self._task.status} (changed from outside); its status is left as is")
            return
        if reason:
            self._live.log(reason)

    def stop(
        self, timeout: float | None = None, mark_failed: bool = False, mark_aborted: bool = False
    ) -> None:
        """Stop the run (safe from a callback: it then returns at once, without waiting)."""
        self._stop_mark = (
            "failed" if mark_failed else "aborted" if mark_aborted else self._stop_mark or "aborted"
        )
        if self._run is None:
            return
        self._live.stopped_by_user = True
        self._live.engine.stop("pipeline stopped")
        if not self._live.engine.on_loop:
            self.wait(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the run to end; `timeout` in minutes. True if it ended."""
        if self._run is None:
            return True
        return bool(self._live.engine.wait(timeout * 60 if timeout is not None else None))

    def is_running(self) -> bool:
        return self._run is not None and not self._live.engine.finished.is_set()

    def is_successful(self, fail_on_step_fail: bool = True, fail_condition: str = "all") -> bool:
        if fail_condition not in ("all", "failed", "aborted"):
            raise ValidationError(
                f"fail_condition must be 'all', 'failed' or 'aborted', not {fail_condition!r}"
            )
        status = self._backend.get_task(self._task.id).status
        if status not in (TaskStatus.completed, TaskStatus.published):
            return False
        if not fail_on_step_fail:
            return True
        bad = {"all": {"failed", "aborted"}, "failed": {"failed"}, "aborted": {"aborted"}}[fail_condition]
        return not any(node.status in bad for node in self._nodes.values())

    def elapsed(self) -> float:
        """Minutes since the run started, -1.0 before."""
        return -1.0 if self._started_at is None else (time.time() - self._started_at) / 60

    def get_pipeline_dag(self) -> dict[str, StepNode]:
        return self._nodes

    def get_processed_nodes(self) -> list[StepNode]:
        return [
            n for n in self._nodes.values() if n.status in NODE_SUCCESS | {"failed", "aborted", "skipped"}
        ]

    def get_running_nodes(self) -> list[StepNode]:
        return [n for n in self._nodes.values() if n.status in ("queued", "running")]

    def update_execution_plot(self) -> None:
        self._write_dag()

    def add_tags(self, tags: Sequence[str] | str) -> None:
        new = [tags] if isinstance(tags, str) else list(tags)
        self._task = self._backend.edit_task(
            self._task.id, {"tags": list(dict.fromkeys([*self._task.tags, *new]))}
        )

    def force_refresh(self, *steps: str) -> None:
        """Run these cached steps again and replace their cached results (all if none named).

        Also `DUCTWORK_CACHE_REFRESH=all` or `=step1,step2` for a whole process."""
        self._refresh_steps |= set(steps) or {"*"}

    def _refresh(self, step: str) -> bool:
        names = self._refresh_steps | set(
            filter(None, os.environ.get("DUCTWORK_CACHE_REFRESH", "").split(","))
        )
        return bool({"*", "all", step} & names)

    # ---- where steps go

    def _step_project(self, node: StepNode) -> str | None:
        if node.project_name:
            return self._backend.ensure_project(node.project_name).id
        if self._target_project is True or self._target_project is None:
            return self._task.project
        if isinstance(self._target_project, str) and self._target_project:
            return self._backend.ensure_project(self._target_project).id
        return self._task.project

    def _step_tags(self) -> list[str]:
        return [f"pipe: {self._task.id}"] if self._add_pipeline_tags else []

    # ---- rebuilding from the store

    def _load_stored_dag(self) -> None:
        """`always_create_from_code=False`: the stored `Pipeline` configuration (edits included)
        wins over the code; a continued run keeps the steps that already succeeded."""
        configs = self._backend.get_configurations(self._task.id)
        stored = configs.get(DAG_CONFIG)
        if stored is None:
            return
        if not self._always_create_from_code:
            self._nodes = nodes_from_config(json.loads(stored.text), configs, keep=self._nodes)
        self._reuse_finished()

    def _reuse_finished(self) -> None:
        states = {state.name: state for state in self._backend.get_nodes(self._task.id)}
        for name, node in self._nodes.items():
            state = states.get(name)
            if state is None and node.status in NODE_SUCCESS:
                node.status = NodeStatus.pending  # a clone: its copied DAG never ran here
            elif state is not None and state.status in NODE_SUCCESS and state.task_id:
                node.status, node.executed, node.job_id = state.status, state.task_id, state.task_id
                node.job_started, node.job_ended = state.started, state.ended
                node.cache_note = node.cache_note or "reused from the earlier attempt of this run"
            elif node.status in NODE_SUCCESS and not node.executed:
                node.status = NodeStatus.pending

    @classmethod
    def _from_task(cls, record: TaskRecord) -> PipelineController:
        self = cls.__new__(cls)
        params = client.backend().get_parameters(record.id)
        self._init_loaded(record, params)
        return self

    def _init_loaded(self, record: TaskRecord, params: Mapping[str, Param]) -> None:
        project_full = client.backend().get_project(record.project).name if record.project else ""
        base_project, _, name = project_full.partition("/.pipelines/")
        self._name = name or record.name.split(" #")[0]
        self._project_name = base_project
        self._version = str(record.runtime.get("version") or "") or None
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
        self._args = args_of(params)
        self._arg_sections = {}
        self._default_queue = param_value(params, SETTING_DEFAULT_QUEUE, None)
        self._time_limit = None
        self._callbacks = {}
        self._refresh_steps = set()
        self._run = None
        self._started_at = None
        self._early_stop = None
        self._lock = threading.Lock()
        self._backend = client.backend()
        self._task = record
        self._remote = False
        configs = self._backend.get_configurations(record.id)
        stored = configs.get(DAG_CONFIG)
        self._nodes = nodes_from_config(json.loads(stored.text), configs, keep={}) if stored else {}

    # ---- reuse: get, clone, enqueue, resume

    @classmethod
    def get(
        cls,
        pipeline_id: str | None = None,
        pipeline_project: str | None = None,
        pipeline_name: str | None = None,
        pipeline_version: str | None = None,
        pipeline_tags: Sequence[str] | None = None,
        shallow_search: bool = False,
    ) -> PipelineController:
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
                project_name=f"{pipeline_project}/.pipelines/{pipeline_name}",
                type=[TaskTypes.controller],
                system_tags=[PIPELINE_TAG],
                tags=list(pipeline_tags) if pipeline_tags else None,
                archived=None,
                order_by="-updated",
            )
        )
        if pipeline_version is not None:
            runs = [r for r in runs if r.runtime.get("version") == pipeline_version]
        if not runs:
            wanted = f"{pipeline_project}/{pipeline_name}" + (
                f" version {pipeline_version}" if pipeline_version else ""
            )
            raise NotFound(f"no pipeline run found for {wanted}")
        if pipeline_version is None:
            from ductwork.core import version

            versions = [str(r.runtime.get("version")) for r in runs if r.runtime.get("version")]
            if versions:
                best = version.max_version(versions)
                runs = [r for r in runs if r.runtime.get("version") == best] or runs
        return cls._from_task(runs[0])

    @classmethod
    def clone(
        cls,
        pipeline_controller: PipelineController | str,
        name: str | None = None,
        comment: str | None = None,
        parent: str | None = None,
        project: str | None = None,
        version: str | None = None,
    ) -> PipelineController:
        backend = client.backend()
        source = (
            pipeline_controller.id
            if isinstance(pipeline_controller, PipelineController)
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
            changes["runtime"] = {"version": version}
            backend.set_parameters(record.id, {VERSION_PARAM: Param(version, "str")})
        record = backend.edit_task(record.id, changes)
        return cls._from_task(record)

    @classmethod
    def enqueue(
        cls,
        pipeline_controller: PipelineController | str,
        queue_name: str | None = None,
        queue_id: str | None = None,
        force: bool = False,
    ) -> Any:
        """Enqueue a pipeline run (default queue `services`, where controllers run)."""
        from ductwork.sdk.task import Task

        task_id = (
            pipeline_controller.id
            if isinstance(pipeline_controller, PipelineController)
            else pipeline_controller
        )
        if queue_name is None and queue_id is None:
            queue_name = "services"
        if queue_name is not None:
            client.backend().ensure_queue(queue_name)
        return Task.enqueue(task_id, queue_name=queue_name, queue_id=queue_id, force=force)

    @classmethod
    def resume(cls, run_id: str, run_pipeline_steps_locally: bool = True) -> PipelineController:
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

    # ---- calls made from inside a step

    @classmethod
    def _controller_task(cls) -> Any:
        from ductwork.sdk.task import Task

        current = Task.current_task()
        if current is None:
            raise ValidationError("no current task: call this from inside a pipeline step")
        for candidate in (current, Task.get_task(task_id=current.parent) if current.parent else None):
            if candidate is not None and candidate.task_type == TaskTypes.controller:
                return candidate
        raise ValidationError(
            f"could not locate the pipeline of task {current.id}: it is not a pipeline step"
        )

    @classmethod
    def get_logger(cls) -> Any:
        return cls._controller_task().get_logger()

    @classmethod
    def upload_artifact(
        cls,
        name: str,
        artifact_object: Any,
        metadata: Mapping[str, Any] | None = None,
        delete_after_upload: bool = False,
        auto_pickle: bool | None = None,
        preview: Any = None,
        wait_on_upload: bool = False,
        serialization_function: Callable[[Any], bytes] | None = None,
        sort_keys: bool = True,
    ) -> bool:
        return bool(
            cls._controller_task().upload_artifact(
                name,
                artifact_object,
                metadata=metadata,
                delete_after_upload=delete_after_upload,
                auto_pickle=auto_pickle,
                preview=preview,
                wait_on_upload=True,
                serialization_function=serialization_function,
                sort_keys=sort_keys,
            )
        )

    @classmethod
    def upload_model(cls, model_name: str, model_local_path: str, upload_uri: str | None = None) -> Any:
        from ductwork.sdk.model import OutputModel

        model = OutputModel(task=cls._controller_task(), name=model_name)
        model.update_weights(weights_filename=model_local_path, upload_uri=upload_uri)
        return model

    # ---- properties

    @property
    def task(self) -> Any:
        from ductwork.sdk.task import Task

        return Task._from_record(self._backend.get_task(self._task.id))

    @property
    def id(self) -> str:
        return self._task.id

    @property
    def tags(self) -> list[str]:
        return list(self._backend.get_task(self._task.id).tags)

    @property
    def version(self) -> str:
        return str(
            self._backend.get_task(self._task.id).runtime.get("version") or self._version or DEFAULT_VERSION
        )
