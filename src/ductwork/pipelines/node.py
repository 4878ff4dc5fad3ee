"""`PipelineController.Node`: ClearML's view of one step, built from its spec and its state.

What `get_pipeline_dag()`, `get_processed_nodes()` and the callbacks hand to users, with
ClearML's attribute names. A Node holds nothing of its own: definition attributes (`queue`,
`parents`, `parameters`, ...) read the step's frozen `spec.StepSpec` (setting one, as a
pre-execute callback may, gives the node a new spec), run attributes (`status`, `executed`,
`job`, ...) its `state.StepState`. The `runformat.STEP_FIELDS` attributes are the step's entry in
the stored `Pipeline` configuration (what the UI draws and what a rerun rebuilds from).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ductwork.core.runformat import RETURN_NAMES, STEP_FIELDS
from ductwork.core.states import NodeStatus
from ductwork.pipelines.spec import StepCode, StepOptions, StepSpec, with_continue_behaviour
from ductwork.pipelines.state import StepState
from ductwork.pipelines.stepjob import StepJob

T = TypeVar("T")


class _Field(property, Generic[T]):
    """An attribute of the step's spec, options or state, read through `path` (a getter in C:
    the engine reads these dozens of times a step). Named after its attribute unless given."""

    path = ""  # where the attribute lives, from the node: "state", "spec" or "spec.options"

    def __init__(self, attr: str | None = None, *, as_list: bool = False) -> None:
        self.attr = attr or ""
        self.as_list = as_list
        if self.attr:
            self._bind()

    def __set_name__(self, owner: type, name: str) -> None:
        if not self.attr:
            self.attr = name
            self._bind()

    def _bind(self) -> None:
        read = attrgetter(f"{self.path}.{self.attr}")
        getter = _as_list(read) if self.as_list else read
        property.__init__(self, getter, self._put)

    def _put(self, node: Node, value: Any) -> None:
        raise NotImplementedError

    if TYPE_CHECKING:

        def __get__(self, node: Node, owner: type | None = None) -> T: ...  # type: ignore[override]

        def __set__(self, node: Node, value: T) -> None: ...


def _as_list(read: Callable[[Node], Any]) -> Callable[[Node], Any]:
    """ClearML's list where the spec keeps a tuple."""

    def listed(node: Node) -> Any:
        value = read(node)
        return None if value is None else list(value)

    return listed


class _State(_Field[T]):
    """An attribute of the step's state."""

    path = "state"

    def _put(self, node: Node, value: Any) -> None:
        setattr(node.state, self.attr, value)


class _Spec(_Field[T]):
    """An attribute of the step's spec: setting one gives the node a new spec."""

    path = "spec"

    def _put(self, node: Node, value: Any) -> None:
        self._replace(node, tuple(value) if self.as_list and value is not None else value)

    def _replace(self, node: Node, value: Any) -> None:
        node.spec = dataclasses.replace(node.spec, **{self.attr: value})


class _Option(_Spec[T]):
    """An attribute of the step's options."""

    path = "spec.options"

    def _replace(self, node: Node, value: Any) -> None:
        options = dataclasses.replace(node.spec.options, **{self.attr: value})
        node.spec = dataclasses.replace(node.spec, options=options)


def source_of(name: str) -> tuple[str, str, bool]:
    """Where a `Node` reads attribute `name`: ("options" | "spec" | "state", the attribute
    there, whether it is handed out as a list), or ("node", name, False) for a property."""
    held = vars(Node).get(name)
    if isinstance(held, _Option):
        return "options", held.attr, held.as_list
    if isinstance(held, _Spec):
        return "spec", held.attr, held.as_list
    if isinstance(held, _State):
        return "state", held.attr, False
    return "node", name, False


class Node:
    # definition: the spec
    base_task_id: _Spec[str | None] = _Spec()
    task_factory_func: _Spec[Callable[..., Any] | None] = _Spec("task_factory")
    parents: _Spec[list[str]] = _Spec(as_list=True)
    parameters: _Spec[dict[str, Any]] = _Spec()  # "Section/key" -> value
    configurations: _Spec[dict[str, Any]] = _Spec()
    task_overrides: _Spec[dict[str, Any]] = _Spec()
    clone_task: _Spec[bool] = _Spec()
    return_artifacts: _Spec[list[str]] = _Spec(RETURN_NAMES, as_list=True)
    recursively_parse_parameters: _Spec[bool] = _Spec()
    function: _Spec[Callable[..., Any] | None] = _Spec()  # function steps: the user's function
    code: _Spec[StepCode | None] = _Spec()  # function steps: `codegen.Captured` or stored code
    capture_error: _Spec[str] = _Spec()
    component: _Spec[bool] = _Spec()  # a decorator component call: live `args` / `kwargs`
    args: _Spec[tuple[Any, ...]] = _Spec()
    kwargs: _Spec[dict[str, Any]] = _Spec()
    # definition: the options
    queue: _Option[str | None] = _Option()
    timeout: _Option[float | None] = _Option("time_limit")  # seconds
    cache_executed_step: _Option[bool] = _Option("cache")
    retry: _Option[Callable[..., bool] | int | None] = _Option()
    monitor_metrics: _Option[list[Any]] = _Option(as_list=True)
    monitor_artifacts: _Option[list[Any]] = _Option(as_list=True)
    monitor_models: _Option[list[Any]] = _Option(as_list=True)
    pre_execute_callback: _Option[Callable[..., Any] | None] = _Option()
    post_execute_callback: _Option[Callable[..., Any] | None] = _Option()
    status_change_callback: _Option[Callable[..., Any] | None] = _Option()
    continue_on_fail: _Option[bool] = _Option()
    continue_on_abort: _Option[bool] = _Option()
    skip_children_on_fail: _Option[bool] = _Option()
    skip_children_on_abort: _Option[bool] = _Option()
    output_uri: _Option[str | None] = _Option()
    container: _Option[dict[str, Any]] = _Option()
    explicit_docker_image: _Option[str | None] = _Option()
    packages: _Option[list[str] | None] = _Option(as_list=True)
    working_dir: _Option[str | None] = _Option()
    tags: _Option[list[str]] = _Option(as_list=True)
    stage: _Option[str | None] = _Option()
    draft: _Option[bool] = _Option()
    task_name: _Option[str | None] = _Option()
    project_name: _Option[str | None] = _Option()
    # the run: the state
    status: _State[str] = _State()
    attempt: _State[int] = _State()
    job_id: _State[str | None] = _State()  # the current attempt's task id
    executed: _State[str | None] = _State()  # the task that ran (or was reused from the cache)
    result: _State[Any] = _State()  # debug mode: the value returned in memory
    error: _State[str] = _State()
    job_started: _State[float | None] = _State()
    job_ended: _State[float | None] = _State()
    skip_job: _State[bool] = _State()
    cache_key: _State[str] = _State()
    cache_note: _State[str] = _State()

    def __init__(
        self, name: str = "", *, spec: StepSpec | None = None, state: StepState | None = None, **fields: Any
    ) -> None:
        """A view of `spec` and `state`; or, as ClearML's `Node(name=..., queue=..., ...)`, a
        step built from its attribute names."""
        self.spec = spec if spec is not None else StepSpec(name=name)
        self.state = state if state is not None else StepState()
        for key, value in fields.items():
            if key not in vars(Node) or key == "name":
                raise TypeError(f"Node has no attribute {key!r}")
            setattr(self, key, value)

    if TYPE_CHECKING:

        @property
        def name(self) -> str: ...

    else:
        name = property(attrgetter("spec.name"))  # read in C, as the fields above

    @property
    def job(self) -> StepJob | None:
        """ClearML's job of the step's attempt (`stepjob`): its task, status, metrics and console;
        None until the step's task exists. (An in-process call's own arguments: `state.job`.)"""
        task_id = self.state.job_id or self.state.executed
        if task_id is None:
            return None
        cached = self.state.status == NodeStatus.cached
        kept = self.state.view
        if kept is None or kept.task_id() != task_id or kept.is_cached_task() != cached:
            kept = self.state.view = StepJob(task_id, cached)
        return kept

    @property
    def options(self) -> StepOptions:
        return self.spec.options

    @property
    def job_type(self) -> str | None:
        return self.state.job_type or self.spec.options.task_type

    @job_type.setter
    def job_type(self, value: str | None) -> None:
        self.state.job_type = value

    @property
    def job_code_section(self) -> str | None:
        """The controller configuration that holds a function step's code: the step's name."""
        return self.spec.name if self.spec.is_function else None

    @job_code_section.setter
    def job_code_section(self, value: str | None) -> None:
        self.spec = dataclasses.replace(self.spec, kind="function" if value else self.spec.kind)

    @property
    def continue_behaviour(self) -> dict[str, bool] | None:
        return None  # consumed when set, as in ClearML

    @continue_behaviour.setter
    def continue_behaviour(self, value: Mapping[str, bool] | None) -> None:
        self.spec = dataclasses.replace(self.spec, options=with_continue_behaviour(self.spec.options, value))

    @property
    def is_function(self) -> bool:
        return self.spec.is_function

    def to_dict(self) -> dict[str, Any]:
        """The node's entry in the `Pipeline` configuration object."""
        out = {name: getattr(self, name) for name in STEP_FIELDS}  # serialised at once, never kept
        out["job_id"] = self.state.task_id
        return out

    def copy(self) -> Node:
        """A fresh definition: same configuration, no run state."""
        spec = dataclasses.replace(
            self.spec,
            parameters=copy.deepcopy(dict(self.spec.parameters)),
            configurations=copy.deepcopy(dict(self.spec.configurations)),
            task_overrides=copy.deepcopy(dict(self.spec.task_overrides)),
        )
        kept = self.state
        state = StepState(job_type=kept.job_type, cache_key=kept.cache_key, cache_note=kept.cache_note)
        return Node(spec=spec, state=state)

    def __repr__(self) -> str:
        return f"Node(name={self.name!r}, status={self.status!r}, executed={self.executed!r})"
