"""One run of a pipeline: what the scheduler asks of its pipeline (`seams.Host`).

It prepares each step (references, pre-callbacks, cache, task), decides retries, records
monitors and callbacks when a step ends, and keeps the run's live state in the store: node
states in one batch per scheduler wake-up, the `Pipeline` configuration a little less often.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from ductwork.client.contract import Backend
from ductwork.core import orphans, refs
from ductwork.core.arguments import is_json
from ductwork.core.records import (
    ConfigObject,
    ConsoleLine,
    NodeState,
    TaskRecord,
)
from ductwork.core.runformat import DAG_DESCRIPTION, STEP_ARGS
from ductwork.core.states import NodeStatus
from ductwork.pipelines import monitoring, steps
from ductwork.pipelines.batching import Call
from ductwork.pipelines.engine import LOOK_EVERY_S, Engine
from ductwork.pipelines.executors import InlineExecutor
from ductwork.pipelines.node import Node
from ductwork.pipelines.pending import Pending
from ductwork.pipelines.runner import Output, from_stored, load_output, replace_outputs, split_results, stored
from ductwork.pipelines.seams import Executor, Outcome, Prepared
from ductwork.pipelines.spec import RetryPolicy, StepSpec
from ductwork.pipelines.state import Job


@dataclass(frozen=True)
class RunSettings:
    """What a run takes from its pipeline: who it is, its arguments, its pipeline-wide options and
    the functions that place, tag and record its steps. `owner` is what user callbacks receive
    as their `pipeline` argument (the `PipelineController`)."""

    owner: object
    controller: TaskRecord  # the run's controller task
    arguments: Mapping[str, Any]
    nodes: Mapping[str, Node]  # live: a decorator pipeline adds steps as it runs
    step_project: Callable[[Node], str | None]
    refresh: Callable[[str], bool]  # whether a cached step must run again
    write_dag: Callable[[], None]  # store the `Pipeline` configuration
    encode_dag: Callable[[list[Node]], None]  # encode these steps' entries in it ahead of the write
    default_queue: str | None = None
    output_uri: str | None = None
    retry: RetryPolicy = None
    abort_on_failure: bool = False
    serialize: Callable[[Any], bytes] | None = None
    deserialize: Callable[[bytes], Any] | None = None
    step_tags: tuple[str, ...] = ()
    created_callback: Callable[..., Any] | None = None  # step_task_created_callback
    completed_callback: Callable[..., Any] | None = None  # step_task_completed_callback


class Run:
    def __init__(
        self, settings: RunSettings, backend: Backend, executor: Executor, *, inline: bool, max_workers: int
    ) -> None:
        self.settings = settings
        self.pipe = settings.owner
        self.backend = backend
        self.task_id = settings.controller.id
        self.inline = inline
        self.executor = executor
        self.resolver = steps.Resolver(self.backend, settings.arguments, settings.nodes)
        self.live: dict[Output, Any] = {}  # outputs of in-process steps, in memory
        self.lazy_owner: Callable[[Any], Output | None] = lambda value: None
        self.engine = Engine(
            self, executor, max_workers=max_workers, abort_on_failure=settings.abort_on_failure
        )
        # In-process steps' writes, with the run's next write (no hook for steps run elsewhere).
        self.pending = Pending(backend, self.log, starts=inline)
        if isinstance(executor, InlineExecutor):
            executor.pending = self.pending
        self.stopped_by_user = False
        # Why the run stops, when it does: "aborted", "failed", or "taken" (another process
        # continues it: this one must leave its states and status alone).
        self.stop_mark: str | None = None
        # Who runs this run's in-process and local steps (`runtime["_owner"]`): this process,
        # so that they are settled if it dies. None when agents run the steps.
        self.step_owner: dict[str, Any] | None = None
        self._params: dict[str, dict[str, Any]] = {}  # a prepared step's parameters, until created
        # Each step's state as last written, so the run's last flush of every step writes only
        # what changed since (tuples of plain values: the garbage collector does not walk them).
        self._stored: dict[str, tuple[Any, ...]] = {}
        self._config_written = 0.0
        self._config_every = 1.0
        self._looked = 0.0  # monotonic time of the last look for an abort from outside
        self._seen_stopped = False
        self._lock = threading.Lock()

    # ---- preparing a step

    def prepare(self, node: Node) -> Prepared:
        if not _reads_nothing_pending(node):
            self.pending.write()  # what it reads (inputs, cache, callbacks) is in the store
        if self.inline and self._aborted_from_outside():
            # Debug mode: a step's function cannot be interrupted, so an abort acts at the
            # next step boundary, exactly: read here, not left to the abort watcher's tick.
            self.stop_mark = "aborted"
            self.engine.stop("the pipeline run was aborted")
            return Prepared("skip", error="the pipeline run was aborted")
        try:
            return self._prepare(node)
        except Exception as exc:
            # A step that cannot even be created fails alone, with the reason, like any failure.
            error = f"{type(exc).__name__}: {exc}"
            self.log(f"step {node.name!r} could not start: {error}")
            return Prepared("failed", error=error)

    def _aborted_from_outside(self) -> bool:
        """Whether the run's task was stopped, as last seen: looked at again when that is
        LOOK_EVERY_S old (`flush` looks too, right after its write)."""
        now = time.monotonic()
        if now - self._looked >= LOOK_EVERY_S:
            self._looked = now
            try:
                with self.pending.aside():  # the run's own status: no need to commit the steps first
                    self._seen_stopped = str(self.backend.get_task(self.task_id).status) == "stopped"
            except Exception:  # a passing store error: the abort watcher looks again
                pass
        return self._seen_stopped

    def _prepare(self, node: Node) -> Prepared:
        params = self._parameters(node)
        if node.pre_execute_callback is not None:
            # Users see (and may change) the parameters as the step's task will store them.
            shown = {key: stored(value) for key, value in params.items()}
            if node.pre_execute_callback(self.pipe, node, shown) is False:
                self.log(f"step {node.name!r} skipped by its pre_execute_callback")
                return Prepared("skip")
            params = {key: from_stored(value) for key, value in shown.items()}
        spec = self._resolved(node)
        cache, parts = self._cache(node, params)
        if cache.decision == "cached":
            return cache
        runtime: dict[str, Any] = {"attempt": node.attempt}
        if cache.cache_key:
            runtime.update(cache_key=cache.cache_key, cache_parts=parts)
        if node.timeout:
            runtime["time_limit"] = node.timeout
        spec, record = self._create_task(node, spec, params, runtime)
        self._params[node.name] = params
        cache.decision, cache.spec, cache.task_id, cache.job_type = "launch", spec, record.id, record.type
        cache.job = Job(record, *self._call(params)) if self.inline else None
        return cache

    def _resolved(self, node: Node) -> StepSpec:
        """The step as this attempt runs it: its queue and task overrides resolved."""
        spec = node.spec
        queue = self._queue(node)
        overrides = spec.task_overrides
        if overrides:
            overrides = stored(refs.substitute(overrides, self.resolver, recursive=True))
        if queue == spec.options.queue and overrides == spec.task_overrides:
            return spec  # most steps: nothing to resolve, no copies
        options = dataclasses.replace(spec.options, queue=queue)
        return dataclasses.replace(spec, options=options, task_overrides=overrides)

    def _cache(self, node: Node, params: dict[str, Any]) -> tuple[Prepared, dict[str, str]]:
        """A cached step's earlier task ("cached"), or why it runs ("launch": no cache, a miss),
        with the parts of its cache key."""
        if not node.cache_executed_step:
            return Prepared("launch"), {}
        from ductwork.core import cachekey

        inputs = steps.cache_inputs(self.backend, node.spec, params, self._code_text(node))
        parts = cachekey.parts(inputs)
        key = cachekey.key_of_parts(parts)
        if self.settings.refresh(node.name):
            note = "cache refresh forced: ran again and replaced the cached result"
            return Prepared("launch", cache_key=key, cache_note=note), parts
        hit = self.backend.find_cached(key)
        if hit is None:
            return Prepared("launch", cache_key=key, cache_note=self._explain_miss(node, parts)), parts
        note = f"cache hit: reused task {hit.id} (same code, parameters and inputs)"
        result = self._cached_result(node, hit.id)
        return Prepared("cached", task_id=hit.id, result=result, cache_key=key, cache_note=note), parts

    def created(self, node: Node) -> Prepared:
        task_id = str(node.job_id)
        callback = self.settings.created_callback
        params = self._params.pop(node.name, {})
        shown = {k: stored(v) for k, v in params.items()} if callback else {}  # as its task has them
        if callback is not None and callback(self.pipe, node, shown) is False:
            self.backend.delete_task(task_id)
            self.log(f"step {node.name!r} skipped by step_task_created_callback")
            return Prepared("skip", forget_task=True)
        if node.draft:  # draft=True: the task is created for the user to run; the run goes on without it
            if self.backend.get_task(task_id).status != "created":
                self.backend.set_status(task_id, "created", force=True)
            self.log(f"step {node.name!r} created as a draft: task {task_id}")
            return Prepared("skip", cache_note=f"created as draft task {task_id} (draft=True); not run")
        return Prepared("launch")

    def _parameters(self, node: Node) -> dict[str, Any]:
        """The step's parameters with references resolved (upstream results as `Output`s)."""
        if node.component:
            raw: dict[str, Any] = {f"{STEP_ARGS}/{i}": v for i, v in enumerate(node.args)}
            raw.update({f"{STEP_ARGS}/{k}": v for k, v in node.kwargs.items()})
            params = {k: steps.to_outputs(v, self.lazy_owner) for k, v in raw.items()}
        else:
            recursive = node.recursively_parse_parameters or node.is_function
            params = {
                key: refs.substitute(value, self.resolver, recursive=recursive)
                for key, value in node.parameters.items()
            }
        return {key: self._storable(node, key, value) for key, value in params.items()}

    def _storable(self, node: Node, key: str, value: Any) -> Any:
        """JSON values are stored as typed parameters; anything else becomes a controller artifact."""
        if is_json(stored(value)):
            return value
        name = f"{node.name}.{key.partition('/')[2]}"
        from ductwork.sdk import transfer

        # On the one route of stored objects, so a step on another machine can read it.
        record = transfer.save(
            self.backend,
            self.task_id,
            self.settings.output_uri,
            name,
            value,
            serialization_function=self.settings.serialize,
            strings_as_paths=False,
        )
        self.backend.put_artifact(record)
        if self.inline:
            self.live[Output(self.task_id, name)] = value
        return Output(self.task_id, name)

    def _queue(self, node: Node) -> str | None:
        queue = refs.substitute(node.queue, self.resolver) if node.queue else None
        return str(queue) if queue else self.settings.default_queue

    def _code_text(self, node: Node) -> str:
        if node.code is not None:
            return str(node.code.source)
        if node.base_task_id:
            base = self.backend.get_task(node.base_task_id)
            return json.dumps({"script": base.script, "container": base.container}, sort_keys=True)
        return ""

    def _create_task(
        self, node: Node, spec: StepSpec, params: dict[str, Any], runtime: dict[str, Any]
    ) -> tuple[StepSpec, TaskRecord]:
        """The task of this attempt, and the step as it was resolved for it."""
        project = self.settings.step_project(node)
        if spec.code is None:
            if spec.task_factory is not None and not spec.base_task_id:
                made = spec.task_factory(node)  # a new draft task this step runs
                spec = dataclasses.replace(
                    spec, base_task_id=str(getattr(made, "id", made)), clone_task=False
                )
            record = steps.clone_task_step(self.backend, spec, params, project=project, parent=self.task_id)
            if self.step_owner is not None:
                runtime[orphans.OWNER_KEY] = {**self.step_owner, "started": None}
            # add_pipeline_tags tags these steps like function steps
            tags = list(dict.fromkeys([*record.tags, *self.settings.step_tags]))
            changes = {"runtime": {**record.runtime, **runtime}, "tags": tags}
            return spec, self.backend.edit_task(record.id, changes)
        record = steps.function_task(
            spec,
            project=project,
            parent=self.task_id,
            output_uri=spec.options.output_uri or self.settings.output_uri,
            user_tags=list(self.settings.step_tags),
        )
        if spec.task_overrides:
            for section, value in steps.apply_overrides(record, spec.task_overrides).items():
                setattr(record, section, value)
        record.user = self.settings.controller.user
        record.runtime.update(runtime)
        if self.inline:  # it starts right away, in this process
            record.status, record.started = "in_progress", time.time()
        if self.step_owner is not None:
            started = record.started if self.inline else None
            record.runtime[orphans.OWNER_KEY] = {**self.step_owner, "started": started}
        # the task and its parameters: held back with the step ends (`pending`) when in-process
        calls: list[Call] = [("create_task", (record,), {})]
        calls.append(("set_parameters", (record.id, steps.typed_params(params)), {}))
        if self.inline:
            return spec, self.pending.start(calls)
        return spec, self.pending.write(calls)[0]

    def _call(self, params: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        """An in-process step's call arguments: its parameters, upstream values live."""
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for key, value in params.items():
            section, _, name = key.partition("/")
            if section != STEP_ARGS:
                continue
            resolved = self._live_value(value)
            if name.isdigit():
                args.append(resolved)
            else:
                kwargs[name] = resolved
        return args, kwargs

    def _live_value(self, value: Any) -> Any:
        """Upstream results as in-process steps see them: the value in memory when it is here."""
        return replace_outputs(value, lambda ref: self.live[ref] if ref in self.live else self.load(ref))

    def load(self, reference: Output) -> Any:
        """A stored output, read with the pipeline's deserialization function."""
        return load_output(self.backend, reference, deserialize=self.settings.deserialize)

    def _cached_result(self, node: Node, task_id: str) -> Any:
        """In debug mode, what a cached step returned (read from its task's outputs)."""
        if not (self.inline and node.return_artifacts):
            return None
        values = [self.load(Output(task_id, name)) for name in node.return_artifacts]
        return values[0] if len(values) == 1 else tuple(values)

    def _explain_miss(self, node: Node, parts: dict[str, str]) -> str:
        previous = steps.previous_attempt(self.backend, self.settings.step_project(node), node)
        if previous is None or not previous.runtime.get("cache_parts"):
            return "cache miss: this step never ran with caching before"
        from ductwork.core import cachekey

        why = cachekey.explain(previous.runtime["cache_parts"], parts)
        if why == "identical":
            return f"cache miss: the last task with this key ({previous.id}) did not complete"
        return f"cache miss: {why} (compared with task {previous.id})"

    # ---- when a step ends

    def retry(self, node: Node, outcome: Outcome) -> bool:
        policy = node.retry if node.retry is not None else self.settings.retry
        if policy is None:
            return False
        try:
            again = (
                node.attempt < policy
                if isinstance(policy, int)
                else bool(policy(self.pipe, node, node.attempt + 1))
            )
        except Exception:
            self.log(f"retry_on_failure callback of step {node.name!r} raised:\n{traceback.format_exc()}")
            return False
        if again:  # the engine counts the attempt
            self.log(f"step {node.name!r} failed ({outcome.message}); retrying, attempt {node.attempt + 2}")
        return again

    def finished(self, node: Node, outcome: Outcome | None) -> None:
        options, monitored = node.spec.options, monitoring.monitors(node)
        if self.settings.completed_callback or options.post_execute_callback or monitored:
            self.pending.write()  # what they read of the step is in the store
        if (
            outcome is not None
            and outcome.status == "failed"
            and outcome.message.startswith(("time limit", "could not start"))
            and node.job_id
        ):
            self.backend.set_status(str(node.job_id), "failed", reason=outcome.message, force=True)
        if self.inline and node.status == NodeStatus.completed and node.job_id:
            for name, value in split_results(node.return_artifacts, node.result, node.name):
                self.live[Output(node.job_id, name)] = value
        if monitored and node.status in (NodeStatus.completed, NodeStatus.cached) and node.executed:
            try:
                monitoring.copy(self.backend, node, self.task_id)
            except Exception:  # a copy that failed must not stop the run: say so, go on
                self.log(f"monitoring step {node.name!r} failed:\n{traceback.format_exc()}")
        for callback in (self.settings.completed_callback, node.post_execute_callback):
            if callback is None or node.status == NodeStatus.skipped:
                continue
            try:
                callback(self.pipe, node)
            except Exception:
                self.log(f"post-execute callback of step {node.name!r} raised:\n{traceback.format_exc()}")

    def status_changed(self, node: Node, previous: str) -> None:
        if node.status_change_callback is None:
            return
        self.pending.write()
        try:
            node.status_change_callback(self.pipe, node, previous)
        except Exception:
            self.log(f"status_change_callback of step {node.name!r} raised:\n{traceback.format_exc()}")

    # ---- keeping the store current

    def flush(self, nodes: list[Node]) -> None:
        if self.stop_mark == "taken":
            self.pending.write()  # its steps' own ends; the run's states are the new owner's
            return
        states = [state for state in map(self.state, nodes) if self._stored.get(state.name) != _seen(state)]
        self.pending.write([("put_nodes", (states,), {})] if states else None)
        self._stored.update((state.name, _seen(state)) for state in states)  # written: no error
        # A batch's steps, encoded now: a write of the configuration then joins entries instead
        # of encoding thousands at once while the run's writes wait behind it.
        self.settings.encode_dag(nodes)
        if self.inline:
            self._aborted_from_outside()
        now = time.monotonic()
        if now - self._config_written >= self._config_every:
            self.write_config()

    def state(self, node: Node) -> NodeState:
        state = node.state
        return NodeState(
            run_id=self.task_id,
            name=node.spec.name,
            status=state.status,
            task_id=state.task_id,
            started=state.job_started,
            ended=state.job_ended,
            attempt=state.attempt,
            cache_key=state.cache_key,
            cache_note=state.cache_note,
            message=state.error,
        )

    def write_config(self) -> None:
        if self.stop_mark == "taken":
            return
        start = time.monotonic()
        self.settings.write_dag()
        took = time.monotonic() - start
        self._config_written = time.monotonic()
        # Never more than ~2% of the loop's time: a 10,000-step DAG takes tens of milliseconds
        # to write, and the run page follows its steps' states, which are written every window.
        self._config_every = max(1.0, 50 * took)

    def log(self, text: str) -> None:
        print(f"[ductwork] {text}", flush=True)
        self.backend.add_console([ConsoleLine(task_id=self.task_id, text=text, stream="ductwork")])


def _reads_nothing_pending(node: Node) -> bool:
    """A component call that looks nothing up: its inputs are live values, it has no cache
    and no callback before it starts. Its task is written with the step ends waiting."""
    spec = node.spec
    return spec.component and not spec.options.cache and spec.options.pre_execute_callback is None


def config_object(dag_text: str) -> ConfigObject:
    return ConfigObject(text=dag_text, type="json", description=DAG_DESCRIPTION)


# A step's state as `Run._stored` keeps it (all but its run and name, which key it).
_seen = attrgetter("status", "task_id", "started", "ended", "attempt", "cache_key", "cache_note", "message")
