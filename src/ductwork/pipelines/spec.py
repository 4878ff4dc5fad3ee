"""What a pipeline is, as plain frozen data: `PipelineSpec`, `StepSpec` and one `StepOptions`.

`PipelineController.add_step` / `add_function_step` and `PipelineDecorator.component` all build
a step's options through `step_options`, so an option means the same thing wherever it is given.
What happens to a step while a run goes on is not here: that is its `state.StepState`, which the
engine owns. `PipelineController.Node` (node.py) is ClearML's view of the two together.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ductwork.core import launch
from ductwork.core.errors import ValidationError
from ductwork.core.records import Param, TaskTypes
from ductwork.pipelines.options import container as container_of
from ductwork.pipelines.options import package_list
from ductwork.pipelines.repository import StepRepository, step_repository, working_folder

# A retry policy: how many more attempts, or `(pipeline, node, attempt) -> bool`.
RetryPolicy = int | Callable[..., bool] | None
Callback = Callable[..., Any]
StepKind = Literal["function", "task", "pipeline"]


class StepCode(Protocol):
    """A function step's code: `codegen.Captured`, or `stored.StoredCode` read back from a run."""

    @property
    def source(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def requirements(self) -> Sequence[str]: ...

    @property
    def digest(self) -> str: ...


@dataclass(frozen=True)
class StepOptions:
    """How a step runs, whichever way it was added (ClearML's argument names in comments)."""

    queue: str | None = None  # execution_queue (may hold a `${...}` reference)
    cache: bool = False  # cache_executed_step / cache
    retry: RetryPolicy = None  # retry_on_failure
    time_limit: float | None = None  # seconds
    monitor_metrics: tuple[Any, ...] = ()
    monitor_artifacts: tuple[Any, ...] = ()
    monitor_models: tuple[Any, ...] = ()
    pre_execute_callback: Callback | None = None
    post_execute_callback: Callback | None = None
    status_change_callback: Callback | None = None
    continue_on_fail: bool = False
    continue_on_abort: bool = False
    skip_children_on_fail: bool = True
    skip_children_on_abort: bool = True
    output_uri: str | None = None
    container: Mapping[str, Any] = field(default_factory=dict)  # image, arguments, setup script
    explicit_docker_image: str | None = None  # a function step's `docker=`: it enters the cache key
    packages: tuple[str, ...] | None = None  # None: the captured code's requirements
    working_dir: str | None = None  # with a repository: relative to its root
    repository: StepRepository | None = None  # repo, repo_branch, repo_commit (function steps)
    tags: tuple[str, ...] = ()
    stage: str | None = None
    draft: bool = False
    task_type: str | None = None
    task_name: str | None = None
    project_name: str | None = None


def step_options(
    step: str,
    *,
    execution_queue: str | None = None,
    cache_executed_step: bool = False,
    retry_on_failure: RetryPolicy = None,
    time_limit: float | None = None,
    monitor_metrics: Sequence[Any] | None = None,
    monitor_artifacts: Sequence[Any] | None = None,
    monitor_models: Sequence[Any] | None = None,
    pre_execute_callback: Callback | None = None,
    post_execute_callback: Callback | None = None,
    status_change_callback: Callback | None = None,
    continue_on_fail: bool = False,
    continue_behaviour: Mapping[str, bool] | None = None,
    output_uri: str | bool | None = None,
    docker: str | None = None,
    docker_args: str | None = None,
    docker_bash_setup_script: str | None = None,
    packages: bool | str | Sequence[str] | None = None,
    working_dir: str | None = None,
    tags: Sequence[str] | str | None = None,
    stage: str | None = None,
    draft: bool | None = False,
    task_type: str | None = None,
    task_name: str | None = None,
    project_name: str | None = None,
) -> StepOptions:
    """The one way a step's options are read from what a user passed, checked before any run."""
    if task_type is not None and task_type not in TaskTypes.all():
        raise ValidationError(f"step {step!r}: unknown task_type {task_type!r} (one of {TaskTypes.all()})")
    box = container_of(docker, docker_args, docker_bash_setup_script)
    listed = package_list(packages) if packages is not None else None
    if working_dir is not None:  # checked now: a bad folder is refused before the run starts
        working_dir = launch.working_folder(f"step {step!r}", working_dir, "working_dir")
    options = StepOptions(
        queue=execution_queue,
        cache=cache_executed_step,
        retry=retry_on_failure,
        time_limit=time_limit,
        monitor_metrics=tuple(monitor_metrics or ()),
        monitor_artifacts=tuple(monitor_artifacts or ()),
        monitor_models=tuple(monitor_models or ()),
        pre_execute_callback=pre_execute_callback,
        post_execute_callback=post_execute_callback,
        status_change_callback=status_change_callback,
        continue_on_fail=continue_on_fail,
        output_uri=output_uri if isinstance(output_uri, str) else None,
        container=box,
        explicit_docker_image=box.get("image"),
        packages=tuple(listed) if listed is not None else None,
        working_dir=working_dir,
        tags=(tags,) if isinstance(tags, str) else tuple(tags or ()),
        stage=stage,
        draft=bool(draft),
        task_type=task_type,
        task_name=task_name,
        project_name=project_name,
    )
    return with_continue_behaviour(options, continue_behaviour)


# `@component` calls caching `cache`; the controller's methods `cache_executed_step`.
_ALIASES = {"cache": "cache_executed_step"}


def options_from(step: str, arguments: Mapping[str, Any]) -> StepOptions:
    """`step_options` from a ClearML method's own arguments (its `locals()`), by name: `add_step`,
    `add_function_step` and `@component` name alike what they have in common, so each passes
    what it was given and this picks the options out of it."""
    known = inspect.signature(step_options).parameters
    given = {_ALIASES.get(key, key): value for key, value in arguments.items()}
    options = step_options(
        step, **{key: value for key, value in given.items() if key in known and key != "step"}
    )
    return with_repository(
        options, step, given.get("repo"), given.get("repo_branch"), given.get("repo_commit")
    )


def with_repository(options: StepOptions, step: str, repo: Any, branch: Any, commit: Any) -> StepOptions:
    """A function step's `repo` / `repo_branch` / `repo_commit` applied: cloned (or read) and
    pinned now, so a bad one is refused before the pipeline creates anything; its
    `working_dir` is then a folder of the repository."""
    repository = step_repository(step, repo, branch, commit)
    if repository is None:
        return options
    folder = working_folder(step, repository, options.working_dir)
    return dataclasses.replace(options, repository=repository, working_dir=folder)


def with_continue_behaviour(options: StepOptions, behaviour: Mapping[str, bool] | None) -> StepOptions:
    """`continue_behaviour` applied. Unlike ClearML, keys left out keep their documented defaults."""
    if behaviour is None:
        return options
    return StepOptions(
        **{
            **options.__dict__,
            "continue_on_fail": behaviour.get("continue_on_fail", options.continue_on_fail),
            "continue_on_abort": behaviour.get("continue_on_abort", options.continue_on_abort),
            "skip_children_on_fail": behaviour.get("skip_children_on_fail", options.skip_children_on_fail),
            "skip_children_on_abort": behaviour.get("skip_children_on_abort", options.skip_children_on_abort),
        }
    )


@dataclass(frozen=True)
class StepSpec:
    """One step of a pipeline: what it runs, on what inputs, after which steps, how.

    `parameters` are the step's inputs as written (`"Section/key" -> value`, values may hold
    `${...}` references); a decorator component's inputs are its live `args` / `kwargs` instead."""

    name: str
    kind: StepKind = "task"
    parents: tuple[str, ...] = ()
    parameters: Mapping[str, Any] = field(default_factory=dict)
    options: StepOptions = field(default_factory=StepOptions)
    # function steps
    function: Callable[..., Any] | None = None
    code: StepCode | None = None
    capture_error: str = ""  # why the code could not be captured (then it runs in debug mode only)
    return_names: tuple[str, ...] = ()
    component: bool = False  # a decorator component call: live `args` / `kwargs`
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    # task steps: a base task and its overrides
    base_task_id: str | None = None
    task_factory: Callable[..., Any] | None = None
    clone_task: bool = True
    configurations: Mapping[str, Any] = field(default_factory=dict)
    task_overrides: Mapping[str, Any] = field(default_factory=dict)
    recursively_parse_parameters: bool = False

    @property
    def is_function(self) -> bool:
        return self.kind == "function"


@dataclass(frozen=True)
class PipelineSpec:
    """A pipeline: its name, project, version, parameters and steps (in the order added)."""

    name: str
    project: str
    version: str | None = None
    parameters: Mapping[str, Param] = field(default_factory=dict)
    steps: tuple[StepSpec, ...] = ()


def typed(options: StepOptions) -> StepOptions:
    """A function step's options: its task type, else `training`."""
    if options.task_type:
        return options
    return dataclasses.replace(options, task_type=TaskTypes.training)
