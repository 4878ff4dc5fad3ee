"""`PipelineDecorator`: pipelines and steps from plain decorated functions.

Calling a `@pipeline` function creates its own controller and runs it; calling a `@component`
inside it adds a step and returns `LazyValue`s at once, so independent components run
concurrently. There is no process-wide singleton: everything of one run (its steps, call
counters, used values, run) lives on its `PipelineDecorator` instance, and a component call finds
its pipeline through the context, so several pipelines may run in one process at once (threads)
and a pipeline may call another.

Which pipeline a component call belongs to, first match wins:

1. the context's pipeline (`_current`): set while the pipeline function runs, and seen by threads
   started with `contextvars.copy_context().run`;
2. the running pipeline whose controller task is the current task or its parent: a debug-mode
   step (its function runs on the executor's threads with its step task current);
3. in a thread other than the main one, the only pipeline running in this process: a thread the
   pipeline function started without copying its context. With several running that thread
   cannot tell which is its own, and the call is refused rather than guessed.

Process-wide on purpose, as in ClearML: the mode (`run_locally()`, `debug_pipeline()`) and the
default execution queue are settings a script makes before calling its pipeline function; each
pipeline reads them once, when it is called.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ductwork.core.errors import ValidationError
from ductwork.core.runformat import CONTROLLER_QUEUE
from ductwork.core.states import NodeStatus
from ductwork.pipelines import binding, failure, instances, lazy, origin
from ductwork.pipelines.controller import PipelineController
from ductwork.pipelines.executors import QueueExecutor
from ductwork.pipelines.node import Node as StepNode
from ductwork.pipelines.runner import Output
from ductwork.pipelines.spec import RetryPolicy, StepOptions, options_from, typed
from ductwork.pipelines.synchronous import CallerExecutor
from ductwork.pipelines.warming import warm_up

_current: contextvars.ContextVar[PipelineDecorator | None] = contextvars.ContextVar(
    "ductwork_pipeline", default=None
)
# The pipelines this process runs now, for the fallbacks above: process-wide because a thread
# without the context may belong to any of them.
_running: list[PipelineDecorator] = []
_running_lock = threading.Lock()


@dataclass
class ScriptDefaults:
    """What a script sets before it calls its pipeline functions (`run_locally()`,
    `debug_pipeline()`, `set_default_execution_queue()`): each pipeline takes them when called."""

    mode: str = "remote"  # "remote" | "local" | "debug"
    queue: str | None = None


_defaults = ScriptDefaults()


@dataclass(frozen=True)
class Launch:
    """How a `@pipeline` function's call runs: where its controller goes, what it returns."""

    return_value: str | None
    default_queue: str | None
    queue: str | None  # pipeline_execution_queue
    controller_here: bool  # start_controller_locally, or no queue to send the controller to
    args_map: Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class ComponentSpec:
    """What `@component` says of a function; each call of it becomes a step."""

    function: Callable[..., Any]
    name: str
    return_values: tuple[str, ...]
    options: StepOptions
    parents: tuple[str, ...] = ()
    helper_functions: tuple[Callable[..., Any], ...] = ()


class PipelineDecorator(PipelineController):
    _mode: str  # this pipeline's: the script's default when it was called
    _calls_in_caller = True  # debug mode calls each component in its caller's thread (ClearML's)
    # Per thread: steps whose values the code of that thread used since its last call.
    _used: dict[int, set[str]]
    _values: Callable[[StepNode, str | None], Any]

    # ---- modes

    @classmethod
    def run_locally(cls) -> None:
        """Every pipeline called afterwards runs here, each step in its own process."""
        _defaults.mode = "local"
        warm_up()  # the steps' fork server imports while the pipeline is set up

    @classmethod
    def debug_pipeline(cls) -> None:
        """Every pipeline called afterwards runs here, steps as plain calls (still recorded)."""
        _defaults.mode = "debug"

    @classmethod
    def set_default_execution_queue(cls, default_execution_queue: str | None) -> None:
        _defaults.queue = default_execution_queue

    @classmethod
    def get_current_pipeline(cls) -> PipelineDecorator | None:
        return _pipeline_here()

    @classmethod
    def wait_for_multi_pipelines(cls) -> list[Any]:
        """The results of the multi_instance_support='parallel' calls, in call order, once all ended."""
        return instances.wait_all()

    # ---- @component

    @classmethod
    def component(
        cls,
        _func: Callable[..., Any] | None = None,
        *,
        return_values: str | Sequence[str] = ("return_object",),
        name: str | None = None,
        cache: bool = False,
        packages: bool | str | Sequence[str] | None = None,
        parents: list[str] | None = None,
        execution_queue: str | None = None,
        continue_on_fail: bool = False,
        docker: str | None = None,
        docker_args: str | None = None,
        docker_bash_setup_script: str | None = None,
        task_type: str | None = None,
        auto_connect_frameworks: dict[str, Any] | None = None,
        auto_connect_arg_parser: dict[str, Any] | None = None,
        repo: str | None = None,
        repo_branch: str | None = None,
        repo_commit: str | None = None,
        helper_functions: Sequence[Callable[..., Any]] | None = None,
        monitor_metrics: list[Any] | None = None,
        monitor_artifacts: list[Any] | None = None,
        monitor_models: list[Any] | None = None,
        retry_on_failure: RetryPolicy = None,
        pre_execute_callback: Callable[..., Any] | None = None,
        post_execute_callback: Callable[..., Any] | None = None,
        status_change_callback: Callable[..., Any] | None = None,
        tags: Sequence[str] | str | None = None,
        output_uri: str | bool | None = None,
        draft: bool | None = False,
        working_dir: str | None = None,
        continue_behaviour: dict[str, bool] | None = None,
        stage: str | None = None,
    ) -> Callable[..., Any]:
        names = [return_values] if isinstance(return_values, str) else list(return_values or [])
        arguments = {**locals(), "draft": False}  # a component's `draft` is not applied (as before)

        def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
            step = name or binding.innermost(function).__name__
            # typed once here, not at each call (a copy of 40 fields a step otherwise)
            options = typed(options_from(step, arguments))
            helpers = tuple(helper_functions or ())
            return _component(
                ComponentSpec(function, step, tuple(names), options, tuple(parents or ()), helpers)
            )

        return decorate(_func) if _func is not None else decorate

    # ---- @pipeline

    @classmethod
    def pipeline(
        cls,
        _func: Callable[..., Any] | None = None,
        *,
        name: str,
        project: str,
        version: str | None = None,
        return_value: str | None = None,
        default_queue: str | None = None,
        pool_frequency: float = 0.2,
        add_pipeline_tags: bool = False,
        target_project: str | None = None,
        abort_on_failure: bool = False,
        pipeline_execution_queue: str | None = CONTROLLER_QUEUE,
        multi_instance_support: bool | str = False,
        add_run_number: bool = True,
        args_map: dict[str, list[str]] | None = None,
        start_controller_locally: bool = False,
        retry_on_failure: RetryPolicy = None,
        docker: str | None = None,
        docker_args: str | None = None,
        docker_bash_setup_script: str | None = None,
        packages: bool | str | Sequence[str] | None = None,
        repo: str | None = None,
        repo_branch: str | None = None,
        repo_commit: str | None = None,
        artifact_serialization_function: Callable[[Any], bytes] | None = None,
        artifact_deserialization_function: Callable[[bytes], Any] | None = None,
        output_uri: str | bool | None = None,
        skip_global_imports: bool = False,
        working_dir: str | None = None,
        enable_local_imports: bool = True,
    ) -> Callable[..., Any]:
        settings = _controller_settings(locals())
        launch = Launch(
            return_value=return_value,
            default_queue=default_queue,
            queue=pipeline_execution_queue,
            controller_here=start_controller_locally or pipeline_execution_queue is None,
            args_map=args_map or {},
        )

        def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(function)
            def run(*args: Any, **kwargs: Any) -> Any:
                call = functools.partial(cls._run_pipeline, function, settings, launch, args, kwargs)
                parallel = multi_instance_support == "parallel"  # in the background; None at once
                return instances.start(call) if parallel else call()

            return run

        return decorate(_func) if _func is not None else decorate

    @classmethod
    def _run_pipeline(
        cls,
        function: Callable[..., Any],
        settings: dict[str, Any],
        launch: Launch,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        signature = inspect.signature(function)
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise ValidationError(f"pipeline {settings['name']!r}: {exc}") from None
        bound.apply_defaults()
        with origin.starting(function, _defaults.mode, _defaults.queue):
            pipe = cls(**settings)
        pipe._mode = _defaults.mode
        pipe._default_queue = launch.default_queue or _defaults.queue
        pipe._arg_sections = {arg: section for section, args in launch.args_map.items() for arg in args}
        for arg, value in bound.arguments.items():
            annotation = signature.parameters[arg].annotation
            hint = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", None)
            pipe.add_parameter(arg, value, param_type=None if annotation is inspect.Parameter.empty else hint)
        if pipe._mode == "remote" and not pipe._remote and not launch.controller_here:
            pipe._serialize()
            pipe._enqueue_self(launch.queue or CONTROLLER_QUEUE)
            sys.exit(0)
        pipe._begin("queue" if pipe._mode == "remote" else pipe._mode, verify=False)
        values = pipe._args_values()
        return pipe._drive(function, values, launch.return_value)

    def _drive(self, function: Callable[..., Any], values: dict[str, Any], return_value: str | None) -> Any:
        """Call the pipeline function as this run, then close the run. The pipeline stays
        findable until its last step ended: a debug step still running must not take
        another pipeline for its own."""
        with _running_lock:
            _running.append(self)
        try:
            return self._call_and_close(function, values, return_value)
        finally:
            with _running_lock:
                _running.remove(self)

    def _call_and_close(
        self, function: Callable[..., Any], values: dict[str, Any], return_value: str | None
    ) -> Any:
        from ductwork.sdk.task import Task

        token = _current.set(self)
        controller = Task._from_record(self._task)
        failure: BaseException | None = None
        result: Any = None
        try:
            with Task._activate(controller):
                result = function(**values)
                result = _resolve(result)
        except BaseException as exc:
            failure = exc
            self._stop_mark = "failed"
            self._live.engine.stop(f"the pipeline function raised {type(exc).__name__}")
        finally:
            _current.reset(token)
        if failure is None and return_value and result is not None:
            try:  # stored before the run is closed, like every other output of it
                controller.upload_artifact(return_value, result, wait_on_upload=True)
            except Exception as exc:
                failure, self._stop_mark = exc, "failed"
        self._live.engine.seal()
        self._finish()
        if failure is not None:
            raise failure
        return result

    # ---- a component call inside the pipeline function

    def _call_component(self, spec: ComponentSpec, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        with self._lock:
            name = self._unique_name(spec.name)
            bound_args, bound_kwargs = binding.bind(spec.name, spec.function, args, kwargs)
            found: set[str] = set()
            lazy.producers((bound_args, bound_kwargs), found)
            parents = dict.fromkeys([*found, *spec.parents, *self._evaluated_leaves()])
            step = self._function_spec(
                name,
                spec.function,
                spec.options,
                spec.helper_functions,
                spec.return_values,
                component=True,
                args=bound_args,
                kwargs=bound_kwargs,
                parents=tuple(parents),
            )
            live = self._live
            if step.capture_error and not live.inline:
                raise ValidationError(step.capture_error + " (only debug mode can run it)")
            if isinstance(live.executor, QueueExecutor) and not (step.options.queue or self._default_queue):
                raise ValidationError(
                    f"component {name!r} has no execution queue and the pipeline has no default queue"
                )
            node = self._nodes[name] = StepNode(spec=step)
        executor = live.executor
        live.engine.add(node, here=isinstance(executor, CallerExecutor))
        if isinstance(executor, CallerExecutor):  # debug mode: the call runs here, now
            executor.run_here(live.engine, node)
        values = [lazy.LazyValue(node, ret, self._values) for ret in node.return_artifacts]
        if not values:
            return lazy.LazyValue(node, None, self._values)
        return values[0] if len(values) == 1 else tuple(values)

    def _unique_name(self, base: str) -> str:
        """`base`, then `base_1`, `base_2`, ... for each further call of the same component."""
        counter = self._calls.get(base, 0)
        name = base if counter == 0 else f"{base}_{counter}"
        while name in self._nodes:  # a component named like another's numbered call
            counter += 1
            name = f"{base}_{counter}"
        self._calls[base] = counter + 1
        return name

    def _evaluated_leaves(self) -> list[str]:
        """Steps whose values this thread used since its last call: an `if` on a result makes
        the next step depend on it. Per thread, as in ClearML: a value another thread of the
        pipeline function used says nothing about this thread's next call."""
        return sorted(self._used.pop(threading.get_ident(), ()))

    def _value_of(self, node: StepNode, name: str | None) -> Any:
        """Wait for `node`, then its return value `name` (None: the step ran for its effects)."""
        self._live.engine.wait_node(node.name)
        self._used.setdefault(threading.get_ident(), set()).add(node.name)
        if node.status not in (NodeStatus.completed, NodeStatus.cached):
            error = failure.value_error(self._backend, self._nodes, node)
            if error is None:  # skipped by a callback or as a draft, or allowed to fail
                return None
            raise error
        if name is None:
            return None
        key = Output(str(node.executed), name)
        if key in self._live.live:
            return self._live.live[key]
        value = self._live.load(key)
        self._live.live[key] = value
        return value

    def _become_current(self) -> None:
        """Not the script's task: the run's task is current inside the pipeline function (and a
        thread without its context must not take it for its own)."""

    def _begin(self, mode: str, *, verify: bool = True) -> None:
        # One bound method for the run's lazy values, not one each: a debug fan-out's values
        # live as long as its pipeline function holds them, for the garbage collector to walk.
        self._values = self._value_of
        self._used = {}
        self._calls: dict[str, int] = {}
        super()._begin(mode, verify=verify)
        self._live.lazy_owner = _lazy_owner


def _pipeline_here() -> PipelineDecorator | None:
    """The pipeline a component call made here belongs to (the rules in the module's note)."""
    pipe = _current.get()
    if pipe is not None:
        return pipe
    from ductwork.sdk import current

    task = current.get()
    with _running_lock:
        running = list(_running)
    if task is not None:
        for pipe in running:
            if pipe._task.id in (task.id, task.parent):
                return pipe
    if threading.current_thread() is threading.main_thread() or not running:
        return None
    if len(running) > 1:
        names = ", ".join(sorted(f"{p._name!r} (task {p._task.id})" for p in running))
        raise ValidationError(
            f"{len(running)} pipelines run in this process ({names}) and this thread does not say"
            " which one it works for: start it with contextvars.copy_context().run so that it"
            " sees the pipeline that started it"
        )
    return running[0]


def _lazy_owner(value: Any) -> Output | None:
    """The stored output a lazy value stands for (its step has a task: it is a parent)."""
    pair = lazy.owner(value)
    if pair is None:
        return None
    node, name = pair
    return Output(str(node.executed or node.job_id), name)


def _resolve(value: Any) -> Any:
    """The pipeline function's result with every lazy value in it (in lists, tuples, dicts)
    replaced by its value."""
    if isinstance(value, lazy.LazyValue):
        return lazy.unwrap(value)
    if isinstance(value, (list, tuple)):
        items = [_resolve(v) for v in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        return {k: _resolve(v) for k, v in value.items()}
    return value


def _controller_settings(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The `PipelineController` arguments among a `@pipeline`'s own (its `locals()`), by name."""
    known = inspect.signature(PipelineController.__init__).parameters
    settings = {key: value for key, value in arguments.items() if key in known and key != "self"}
    if settings.get("target_project") is None:
        settings["target_project"] = True
    settings["always_create_from_code"] = False  # a decorator pipeline continues from its stored DAG
    return settings


def _component(spec: ComponentSpec) -> Callable[..., Any]:
    """The decorated function: a step of the pipeline it is called in, a plain call elsewhere."""
    function = spec.function

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        pipe = _pipeline_here()
        if pipe is None or pipe._run is None:
            return function(*args, **kwargs)  # outside a pipeline: a plain call
        return pipe._call_component(spec, args, kwargs)

    call._ductwork_component = spec  # type: ignore[attr-defined]
    return call
