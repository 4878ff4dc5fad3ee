"""Building a pipeline: parameters, task steps (`add_step`) and function steps (`add_function_step`),
each a frozen `StepSpec` with its `StepOptions`, checked (names, references, queues) before a run."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ductwork import codegen
from ductwork.core import dag, syntax
from ductwork.core.arguments import check_json
from ductwork.core.errors import NotFound, ValidationError
from ductwork.core.queries import TaskQuery
from ductwork.core.records import Param
from ductwork.core.runformat import (
    STEP_ARGS,
)
from ductwork.core.states import TaskStatus
from ductwork.pipelines import unstarted
from ductwork.pipelines.checks import checked
from ductwork.pipelines.node import Node as StepNode
from ductwork.pipelines.options import (
    check_serializable,
    need_text,
)
from ductwork.pipelines.pipeline import PipelineBase
from ductwork.pipelines.runner import codec_bindings
from ductwork.pipelines.spec import (
    PipelineSpec,
    RetryPolicy,
    StepCode,
    StepOptions,
    StepSpec,
    options_from,
    typed,
)
from ductwork.pipelines.stored import uncaptured


class StepBuilding(PipelineBase):
    def add_parameter(
        self, name: str, default: Any = None, description: str | None = None, param_type: str | None = None
    ) -> None:
        need_text("parameter name", name)
        check_json(default, f"pipeline parameter {name!r}")
        self._args[name] = Param(
            value=default, type=param_type or type(default).__name__, description=description or ""
        )

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
        base_task_id = self._base_task(
            name, base_task_id, base_task_factory, base_task_project, base_task_name
        )
        spec = StepSpec(
            name=name,
            kind="task",
            parents=tuple(parents or ()),
            parameters=_parameter_overrides(name, parameter_override),
            options=options_from(name, locals()),
            base_task_id=base_task_id,
            task_factory=base_task_factory,
            clone_task=clone_base_task,
            configurations=_configuration_overrides(name, configuration_overrides),
            task_overrides=dict(task_overrides or {}),
            recursively_parse_parameters=recursively_parse_parameters,
        )
        self._nodes[name] = StepNode(spec=spec)
        return True

    def _base_task(
        self,
        step: str,
        base_task_id: str | None,
        factory: Callable[..., Any] | None,
        project: str | None,
        task_name: str | None,
    ) -> str | None:
        """The task a task step clones: given, made by its factory when it runs, or found by name."""
        if base_task_id is None and factory is None:
            if not (project and task_name):
                raise ValidationError(
                    f"step {step!r}: give base_task_id, base_task_factory, "
                    "or base_task_project + base_task_name"
                )
            return self._find_base_task(step, project, task_name)
        if base_task_id is not None:
            try:
                self._backend.get_task(base_task_id)
            except NotFound:
                raise ValidationError(f"step {step!r}: base task {base_task_id} does not exist") from None
        return base_task_id

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
        options = options_from(name, locals())
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
        **fields: Any,
    ) -> StepSpec:
        """A function step: its code captured now (with the pipeline's artifact functions);
        `fields`, more of the spec (a component call's arguments and parents)."""
        if not callable(function):
            raise ValidationError(f"step {name!r}: function must be callable, not {type(function).__name__}")
        capture_error = ""
        code: StepCode
        try:
            with syntax.LOCK:  # other pipelines of this process may be parsing now
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
        return StepSpec(
            **fields,
            name=name,
            kind="function",
            options=typed(options),
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

    def _spec(self) -> PipelineSpec:
        """The pipeline as it is defined now (a snapshot: a decorator pipeline adds steps as it runs)."""
        steps = tuple(node.spec for node in list(self._nodes.values()))
        return PipelineSpec(self._name, self._project_name, self._version, dict(self._args), steps)

    def _verify(self, *, need_queues: bool, in_process: bool = False) -> None:
        try:
            spec = checked(
                self._spec(),
                default_queue=self._default_queue,
                need_queues=need_queues,
                in_process=in_process,
            )
        except ValidationError as exc:
            if not self._remote:  # the run never starts: not a draft left in the runs list
                unstarted.refuse(self._task.id, self._backend, f"refused before it started: {exc}")
            raise
        for step in spec.steps:
            self._nodes[step.name].spec = step


def _parameter_overrides(step: str, given: Mapping[str, Any] | None) -> dict[str, Any]:
    overrides = dict(given or {})
    for key in overrides:
        if not isinstance(key, str) or "/" not in key:
            raise ValidationError(
                f"step {step!r} parameter_override {key!r}: name it 'Section/key' (e.g. 'General/{key}')"
            )
    return overrides


def _configuration_overrides(step: str, given: Mapping[str, Any] | None) -> dict[str, Any]:
    configurations = dict(given or {})
    for key, value in configurations.items():
        if not isinstance(value, (str, Mapping)):
            raise ValidationError(
                f"step {step!r} configuration_overrides[{key!r}] must be a str or a dict, "
                f"not {type(value).__name__}"
            )
    return configurations
