"""The scheduler core: one event loop drives every mode through an `Executor` seam.

Everything that happens to a run is an event on one queue (a step was added, started, ended,
timed out; stop was asked), handled in order by one thread. No timer sits between a step
ending and its children starting: its end is the event that launches them. Steps may be added
while the run goes on (decorator components are submitted as the pipeline function calls them).
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ductwork.core.states import NODE_FINAL, NODE_SUCCESS, NodeStatus
from ductwork.pipelines.node import Node
from ductwork.pipelines.spec import StepSpec
from ductwork.pipelines.state import Job


@dataclass
class Outcome:
    """How one attempt of a step ended."""

    status: str  # "completed" | "failed" | "aborted"
    message: str = ""
    result: Any = None  # in-process steps: the returned value itself


@dataclass
class Prepared:
    """What the host made of a step before it runs; the engine records it in the step's state.

    `decision`: "launch" (its task `task_id` was created), "cached" (task `task_id` ran it
    before), "skip", or "failed" (`error` says why). Fields left None leave the state as it is."""

    decision: str
    spec: StepSpec | None = None  # the step as resolved (queue, task overrides, base task)
    task_id: str | None = None
    job_type: str | None = None
    job: Job | None = None  # in-process steps: the call's live arguments
    result: Any = None  # a cached in-process step: its recorded value
    cache_key: str | None = None
    cache_note: str | None = None
    error: str | None = None
    forget_task: bool = False  # the task was deleted (step_task_created_callback said no)


# Step states go to the host at most this often (each batch is one store write): a debug run's
# short steps end hundreds a second, and a write per wake-up was most of their cost. A state
# change waits at most this long; the run's last states are sent at once.
FLUSH_EVERY_S = 0.02

# A stop from outside (the web UI, the CLI) is looked for at a debug step's boundaries, unless
# the last look is more recent than this: a stop that lands this close to a boundary is taken at
# the next one, as one that lands just after it would be. A read per step was a fifth of its cost.
LOOK_EVERY_S = 0.02

Report = Callable[[Node, str, "Outcome | None"], None]


class Executor(Protocol):
    """Runs one prepared step attempt (`node.job_id` is its task) and reports back."""

    def start(self, node: Node, report: Report) -> None:
        """Start without blocking; call `report(node, "running", None)` when it runs and
        `report(node, "done", Outcome)` exactly once when it ends."""
        ...

    def abort(self, node: Node) -> None: ...

    def close(self) -> None: ...


class Host(Protocol):
    """What the engine asks of its pipeline (the controller)."""

    def prepare(self, node: Node) -> Prepared:
        """Resolve, call pre-callbacks, look up the cache, create the task."""
        ...

    def created(self, node: Node) -> Prepared:
        """The step's task exists (recorded): "launch" it, or "skip" it (the
        step_task_created_callback said no, or it is a draft)."""
        ...

    def retry(self, node: Node, outcome: Outcome) -> bool:
        """Whether a failed attempt is tried again."""
        ...

    def finished(self, node: Node, outcome: Outcome | None) -> None:
        """Record the final state, monitors and post-callbacks (also for cached/skipped)."""
        ...

    def status_changed(self, node: Node, previous: str) -> None: ...

    def flush(self, nodes: list[Node]) -> None:
        """Persist the states of `nodes`, changed since the last flush (one batch)."""
        ...


class Engine:
    def __init__(self, host: Host, executor: Executor, *, max_workers: int, abort_on_failure: bool) -> None:
        self.host = host
        self.executor = executor
        self.max_workers = max(1, max_workers)
        self.abort_on_failure = abort_on_failure
        self.nodes: dict[str, Node] = {}
        self.children: dict[str, list[str]] = {}
        self._events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()  # (kind, its payload)
        self._ready: deque[Node] = deque()
        self._running: set[str] = set()
        self._dirty: dict[str, Node] = {}
        self._flushed_at = 0.0  # monotonic time of the last batch of states sent to the host
        self._done: dict[str, threading.Event] = {}
        self._added: dict[str, Node] = {}  # every step handed to `add`, from any thread
        self._timers: dict[str, threading.Timer] = {}
        self._timed_out: set[str] = set()
        self._open = 0  # steps not yet in a final state
        self._sealed = False  # no more steps will be added
        self._stopping = False
        self.finished = threading.Event()
        self._end_lock = threading.Lock()
        self.error: BaseException | None = None
        self._final_hooks: list[Callable[[], None]] = []
        self._thread = threading.Thread(target=self._loop, name="ductwork-scheduler", daemon=True)

    # ---- API, callable from any thread

    def start(self) -> None:
        self._thread.start()

    def add(self, node: Node) -> None:
        with self._end_lock:
            self._added[node.name] = node
            done = self._done[node.name] = threading.Event()
            if self.finished.is_set():  # the run ended (stopped, or failed): this step never runs
                node.status = NodeStatus.skipped
                node.error = node.error or "the pipeline run had already ended"
                done.set()
                return
        self._events.put(("add", node))

    def seal(self) -> None:
        """No more steps: the run ends when the ones it has are done."""
        self._events.put(("seal", None))

    def stop(self, reason: str = "stopped") -> None:
        self._events.put(("stop", reason))

    def wait_node(self, name: str, timeout: float | None = None) -> Node:
        self._done[name].wait(timeout)
        return self._added[name]

    def wait(self, timeout: float | None = None) -> bool:
        return self.finished.wait(timeout)

    def has(self, name: str) -> bool:
        """Whether step `name` was added to this run."""
        return name in self._added

    def is_done(self, name: str) -> bool:
        return self._done[name].is_set()

    def when_final(self, hook: Callable[[], None]) -> None:
        """Call `hook` (on the loop's thread) each time a step reaches its final state, and
        once when the loop ends: a waiter elsewhere wakes at once instead of polling."""
        self._final_hooks.append(hook)

    def running(self) -> list[Node]:
        """The steps running now (a snapshot, from any thread)."""
        return [self.nodes[name] for name in list(self._running)]

    @property
    def on_loop(self) -> bool:
        return threading.current_thread() is self._thread

    def report(self, node: Node, kind: str, payload: Outcome | None) -> None:
        """Executors call this from their own threads."""
        self._events.put((kind, (node, payload)))

    # ---- the loop

    def _loop(self) -> None:
        try:
            while True:
                try:
                    kind, payload = self._events.get(timeout=self._flush_due())
                except queue.Empty:  # states held back by the last flush's window: send them now
                    self._flush(now=True)
                    continue
                self._handle(kind, payload)
                while not self._events.empty():  # drain a burst, then flush once
                    kind, payload = self._events.get_nowait()
                    self._handle(kind, payload)
                self._launch_ready()
                if self._sealed and not self._running and not self._ready:
                    self._fail_unreachable()
                if self._sealed and not self._running and not self._ready and self._all_final():
                    self._flush(now=True)
                    break
                self._flush()
        except BaseException as exc:  # a bug or a callback's exception must not hang the run
            self.error = exc
            traceback.print_exc()
            self._abort_running("the scheduler failed: " + repr(exc))
            self._flush(now=True)
        finally:
            for timer in self._timers.values():
                timer.cancel()
            with self._end_lock:
                self.finished.set()
                for event in self._done.values():
                    event.set()
            for hook in self._final_hooks:
                hook()

    def _handle(self, kind: str, payload: Any) -> None:
        if kind == "add":
            self._on_add(payload)
        elif kind == "running":
            node, _ = payload
            if node.name in self._running:  # not when an abort already ended it
                self._set_status(node, NodeStatus.running)
                node.job_started = node.job_started or time.time()
        elif kind == "done":
            node, outcome = payload
            self._on_done(node, outcome)
        elif kind == "timeout":
            node, _ = payload
            if node.name in self._running:
                self._timed_out.add(node.name)
                self.executor.abort(node)
        elif kind == "stopped":  # its task was stopped from outside (the web UI, the CLI)
            node, _ = payload
            if node.name in self._running:
                node.error = node.error or "its task was stopped from outside"
                self.executor.abort(node)
        elif kind == "seal":
            self._sealed = True
        elif kind == "stop":
            self._on_stop(str(payload))

    def _on_add(self, node: Node) -> None:
        self.nodes[node.name] = node
        self.children.setdefault(node.name, [])
        for parent in node.parents:
            self.children.setdefault(parent, []).append(node.name)
        if node.status in NODE_FINAL:  # reused from an earlier run (resume)
            self._done[node.name].set()
            return
        self._open += 1
        self._dirty[node.name] = node
        self._consider(node)

    def _consider(self, node: Node) -> None:
        """Queue `node` if its parents allow it, skip it if they never will."""
        if node.status != NodeStatus.pending:
            return
        if self._stopping:  # e.g. added while the run stops: it would never run, nor end the run
            self._skip(node)
            return
        verdict = self._parents_verdict(node)
        if verdict == "wait":
            return
        if verdict == "skip":
            self._skip(node)
            return
        self._ready.append(node)
        node.status = NodeStatus.queued  # reserved; the host confirms when it is created
        self._dirty[node.name] = node

    def _parents_verdict(self, node: Node) -> str:
        for name in node.parents:
            parent = self.nodes.get(name)
            if parent is None or parent.status not in NODE_FINAL:
                return "wait"
        for name in node.parents:
            parent = self.nodes[name]
            if parent.status in NODE_SUCCESS:
                continue
            if parent.status == NodeStatus.failed and not parent.skip_children_on_fail:
                continue
            if parent.status == NodeStatus.aborted and not parent.skip_children_on_abort:
                continue
            return "skip"
        return "go"

    def _launch_ready(self) -> None:
        while self._ready and len(self._running) < self.max_workers and not self._stopping:
            node = self._ready.popleft()
            node.status = NodeStatus.pending  # so status_changed reports the real move
            decision = self._prepare(node)
            if decision == "skip":
                self._skip(node)
            elif decision == "failed":
                self._on_done(node, Outcome("failed", node.error))
            elif decision == "cached":
                self._set_status(node, NodeStatus.cached)
                node.job_started = node.job_ended = time.time()
                self._final(node, None)
            else:
                self._set_status(node, NodeStatus.queued)
                self._running.add(node.name)
                if node.timeout:
                    self._arm_timer(node)
                try:
                    self.executor.start(node, self.report)
                except Exception as exc:  # it could not start: this step fails, the run goes on
                    self._on_done(node, Outcome("failed", f"could not start: {type(exc).__name__}: {exc}"))

    def _prepare(self, node: Node) -> str:
        prepared = self.host.prepare(node)
        self._record(node, prepared)
        if prepared.decision == "launch":
            prepared = self.host.created(node)
            self._record(node, prepared)
        return prepared.decision

    def _record(self, node: Node, prepared: Prepared) -> None:
        """What the host answered, in the step's state (and its resolved spec)."""
        state = node.state
        if prepared.spec is not None:
            node.spec = prepared.spec
        if prepared.task_id is not None:
            state.job_id = prepared.task_id
            if prepared.decision == "cached":
                state.executed, state.result = prepared.task_id, prepared.result
        if prepared.forget_task:
            state.job_id = None
        for name in ("job_type", "job", "cache_key", "cache_note", "error"):
            value = getattr(prepared, name)
            if value is not None:
                setattr(state, name, value)

    def _arm_timer(self, node: Node) -> None:
        timer = threading.Timer(float(node.timeout or 0), self.report, args=(node, "timeout", None))
        timer.daemon = True
        self._timers[node.name] = timer
        timer.start()

    def _on_done(self, node: Node, outcome: Outcome) -> None:
        self._running.discard(node.name)
        timer = self._timers.pop(node.name, None)
        if timer is not None:
            timer.cancel()
        if node.name in self._timed_out and outcome.status != "completed":
            # A time limit aborts the step and counts as a failure, with its reason.
            self._timed_out.discard(node.name)
            outcome = Outcome("failed", f"time limit of {node.timeout:g} s exceeded", outcome.result)
        if outcome.status == "failed" and not self._stopping and self.host.retry(node, outcome):
            node.state.attempt += 1
            node.state.job_id = node.state.job = None
            node.error = ""
            self._ready.appendleft(node)
            return
        node.job_ended = time.time()
        node.result = outcome.result
        node.error = outcome.message
        self._set_status(node, NodeStatus.completed if outcome.status == "completed" else outcome.status)
        self._final(node, outcome)
        if (
            self.abort_on_failure
            and node.status in (NodeStatus.failed, NodeStatus.aborted)
            and not node.continue_on_fail
        ):
            self._on_stop(f"step {node.name!r} failed and abort_on_failure is set")

    def _final(self, node: Node, outcome: Outcome | None) -> None:
        self._open -= 1
        node.executed = node.job_id or node.executed
        self._dirty[node.name] = node
        self.host.finished(node, outcome)
        self._done[node.name].set()
        for hook in self._final_hooks:
            hook()
        for child in self.children.get(node.name, []):
            self._consider(self.nodes[child])

    def _fail_unreachable(self) -> None:
        """Sealed and idle: a step still waiting names a parent that was never added (e.g. a
        component's `parents=` with a typo). It fails, naming it, rather than wait for ever."""
        for node in list(self.nodes.values()):
            missing = [name for name in node.parents if name not in self.nodes]
            if node.status == NodeStatus.pending and missing:
                node.error = f"its parent {missing[0]!r} is not a step of this pipeline"
                self._set_status(node, NodeStatus.failed)
                self._final(node, Outcome("failed", node.error))

    def _skip(self, node: Node) -> None:
        node.skip_job = True
        self._set_status(node, NodeStatus.skipped)
        self._final(node, None)

    def _on_stop(self, reason: str) -> None:
        if self._stopping:
            return
        self._stopping = True
        self._sealed = True
        self._abort_running(reason)
        self._ready.clear()
        for node in list(self.nodes.values()):
            if node.status in (NodeStatus.pending, NodeStatus.queued) and node.name not in self._running:
                self._skip(node)

    def _abort_running(self, reason: str) -> None:
        for name in list(self._running):
            node = self.nodes[name]
            node.error = node.error or reason
            self.executor.abort(node)

    def _set_status(self, node: Node, status: str) -> None:
        previous = node.status
        node.status = str(status)
        self._dirty[node.name] = node
        if previous != node.status:
            self.host.status_changed(node, previous)

    def _all_final(self) -> bool:
        return self._open == 0

    def _flush_due(self) -> float | None:
        """How long the loop may wait for an event before held-back states must be sent."""
        if not self._dirty:
            return None
        return max(0.0, self._flushed_at + FLUSH_EVERY_S - time.monotonic())

    def _flush(self, *, now: bool = False) -> None:
        """Send the changed states in one batch; within FLUSH_EVERY_S of the last batch they
        wait for the window's end (or the run's end), so a burst of short steps is one write."""
        if not self._dirty:
            return
        if not now and time.monotonic() - self._flushed_at < FLUSH_EVERY_S:
            return
        self._flushed_at = time.monotonic()
        batch, self._dirty = list(self._dirty.values()), {}
        try:
            self.host.flush(batch)
        except Exception:  # the store is failing: the run goes on, the states are sent next time
            traceback.print_exc()
            for node in batch:
                self._dirty.setdefault(node.name, node)
