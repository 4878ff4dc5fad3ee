"""The scheduler core: one event loop drives every mode through an `Executor` seam.

Everything that happens to a run is an event on one queue (a step was added, started, ended,
timed out; stop was asked), handled in order by one thread. No timer sits between a step
ending and its children starting: its end is the event that launches them. Steps may be added
while the run goes on (decorator components are submitted as the pipeline function calls them).

A thread that would only wait for the loop's thread to handle its event (a debug-mode call,
which runs its step itself) handles it in place instead (`add(here=True)`, `report_here`,
`pump`): whoever holds the turn handles the events, so a step costs no hand-off between threads.
The loop's thread keeps the rest: timers, other threads' events, the batches of states it
writes (outside the turn, so a commit never holds up a call), and the run's end.
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from ductwork.core.states import NODE_FINAL, NODE_SUCCESS, NodeStatus
from ductwork.pipelines.node import Node
from ductwork.pipelines.seams import Executor, Host, Outcome, Prepared

# Step states go to the host at most this often (each batch is one store write): a debug run's
# short steps end hundreds a second, and a write per wake-up was most of their cost. A state
# change waits at most this long; the run's last states are sent at once.
FLUSH_EVERY_S = 0.02

# A stop from outside (the web UI, the CLI) is looked for at a debug step's boundaries, unless
# the last look is more recent than this: a stop that lands this close to a boundary is taken at
# the next one, as one that lands just after it would be. A read per step was a fifth of its cost.
LOOK_EVERY_S = 0.02


class Engine:
    def __init__(self, host: Host, executor: Executor, *, max_workers: int, abort_on_failure: bool) -> None:
        self.host = host
        self.executor = executor
        self.max_workers = max(1, max_workers)
        self.abort_on_failure = abort_on_failure
        self.nodes: dict[str, Node] = {}
        self.children: dict[str, list[str]] = {}  # a step that has children -> their names
        self._events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()  # (kind, its payload)
        self._here: deque[tuple[str, Any]] = deque()  # events their own thread handles (`pump`)
        # Held by whoever handles events: the loop's thread, or a thread pumping its own.
        self._turn = threading.RLock()
        self._pumper: int | None = None  # the thread pumping now
        self._wanted = False  # the loop waits for the turn: no pump takes it before the loop has
        self._armed = False  # the loop sleeps until a flush is due (else until an event)
        self._outbox: deque[list[Node]] = deque()  # batches of states a pump took, to write
        self._ready: deque[Node] = deque()
        self._running: set[str] = set()
        self._dirty: dict[str, Node] = {}
        self._flushed_at = 0.0  # monotonic time of the last batch of states sent to the host
        self._added: dict[str, Node] = {}  # every step handed to `add`, from any thread
        self._timers: dict[str, threading.Timer] = {}
        self._timed_out: set[str] = set()
        self._open = 0  # steps not yet in a final state
        self._sealed = False  # no more steps will be added
        self._stopping = False
        self.finished = threading.Event()
        # The steps in a final state, and the condition their waiters wait on (one for the run:
        # an Event per step was eight objects more per step for the garbage collector to walk).
        self._final_steps: set[str] = set()
        self._settled = threading.Condition(threading.Lock())
        self._waiting = 0  # threads in `wait_node` (counted under `_settled`)
        self.error: BaseException | None = None
        self._final_hooks: list[Callable[[], None]] = []
        self._thread = threading.Thread(target=self._loop, name="ductwork-scheduler", daemon=True)

    # ---- API, callable from any thread

    def start(self) -> None:
        self._thread.start()

    def add(self, node: Node, *, here: bool = False) -> None:
        """Add a step; `here`: the caller `pump`s next, handling the addition itself."""
        with self._settled:
            self._added[node.name] = node
            if self.finished.is_set():  # the run ended (stopped, or failed): this step never runs
                node.status = NodeStatus.skipped
                node.error = node.error or "the pipeline run had already ended"
                self._final_steps.add(node.name)
                return
        if here:
            self._here.append(("add", node))
        else:
            self._events.put(("add", node))

    def seal(self) -> None:
        """No more steps: the run ends when the ones it has are done."""
        self._events.put(("seal", None))

    def stop(self, reason: str = "stopped") -> None:
        self._events.put(("stop", reason))

    def wait_node(self, name: str, timeout: float | None = None) -> Node:
        node = self._added[name]  # a step never added: KeyError, not a wait for ever
        with self._settled:
            if name not in self._final_steps:
                self._waiting += 1
                try:
                    self._settled.wait_for(lambda: name in self._final_steps, timeout)
                finally:
                    self._waiting -= 1
        return node

    def wait(self, timeout: float | None = None) -> bool:
        return self.finished.wait(timeout)

    def has(self, name: str) -> bool:
        """Whether step `name` was added to this run."""
        return name in self._added

    def is_done(self, name: str) -> bool:
        return name in self._final_steps

    def when_final(self, hook: Callable[[], None]) -> None:
        """Call `hook` (on the loop's thread) each time a step reaches its final state, and
        once when the loop ends: a waiter elsewhere wakes at once instead of polling."""
        self._final_hooks.append(hook)

    def running(self) -> list[Node]:
        """The steps running now (a snapshot, from any thread)."""
        return [self.nodes[name] for name in list(self._running)]

    @property
    def on_loop(self) -> bool:
        """Whether this thread handles the run's events now (its loop, or a pump)."""
        return threading.current_thread() is self._thread or self._pumper == threading.get_ident()

    def report(self, node: Node, kind: str, payload: Outcome | None) -> None:
        """Executors call this from their own threads."""
        self._events.put((kind, (node, payload)))

    def report_here(self, node: Node, kind: str, payload: Outcome | None) -> None:
        """`report`, handled in this thread at once (a debug call reporting its own step)."""
        self._here.append((kind, (node, payload)))
        self.pump()

    def pump(self) -> None:
        """Handle the waiting events in this thread, unless the loop's thread is at it: then it
        is told, and handles them. What the loop alone does (writing states, ending the run) is
        left to it, woken when it sleeps without a deadline."""
        me, outer = threading.get_ident(), self._pumper
        # A loop waiting for the turn goes first, unless this thread holds it already (a call
        # made inside a pump: the loop could not have it before this one ends anyway).
        if (self._wanted and outer != me) or not self._turn.acquire(blocking=False):
            self._events.put(("nudge", None))
            return
        try:
            self._pumper = me
            self._drain(here=True)
            self._launch_ready()
            batch = self._take_dirty()
        except BaseException as exc:  # the loop's thread fails the run with it, as its own
            self._events.put(("raise", exc))
            return
        finally:
            self._pumper = outer
            self._turn.release()
        if batch:  # the loop's thread writes it (a pump would wait for the commit)
            self._outbox.append(batch)
        if batch or self._sealed or (self._dirty and not self._armed):  # see `_loop`
            self._events.put(("nudge", None))

    def _drain(self, *, here: bool = False) -> None:
        """Every waiting event, in order (holding the turn); `here`: only those of threads that
        handle their own (a pump leaves the others' to the loop)."""
        while True:
            if self._here:
                kind, payload = self._here.popleft()
            elif here:
                return
            else:
                try:
                    kind, payload = self._events.get_nowait()
                except queue.Empty:
                    return
            self._handle(kind, payload)

    # ---- the loop

    def _loop(self) -> None:
        try:
            while True:
                # Without the turn (a pump may hold it for long): disarmed first, then the
                # deadline read, so a pump that dirties a state after it either sees the loop
                # disarmed (and wakes it) or is seen (the loop sleeps until the deadline).
                self._armed = False
                timeout = self._flush_due()
                self._armed = timeout is not None
                try:
                    kind, payload = self._events.get(timeout=timeout)
                except queue.Empty:  # states held back by the last flush's window: send them now
                    kind, payload = "due", None
                while self._outbox:  # a pump's batches, written here outside the turn
                    self._send(self._outbox.popleft())
                if kind == "nudge" and not self._here and not self._sealed:
                    continue  # it only had batches to write (or a deadline to set: above)
                with self._loop_turn():
                    self._handle(kind, payload)
                    self._drain()  # a burst, then one flush
                    self._launch_ready()
                    if self._sealed and not self._running and not self._ready:
                        self._fail_unreachable()
                    ended = self._sealed and not self._running and not self._ready and self._all_final()
                    batch = self._take_dirty(now=ended or kind == "due")
                self._send(batch)
                if ended:
                    break
        except BaseException as exc:  # a bug or a callback's exception must not hang the run
            self.error = exc
            traceback.print_exc()
            with self._loop_turn():
                self._abort_running("the scheduler failed: " + repr(exc))
                batch = self._take_dirty(now=True)
            self._send(batch)
        finally:
            for timer in self._timers.values():
                timer.cancel()
            with self._settled:
                self.finished.set()
                self._final_steps.update(self._added)
                self._settled.notify_all()
            for hook in self._final_hooks:
                hook()

    @contextmanager
    def _loop_turn(self) -> Iterator[None]:
        """The turn, for the loop's thread, ahead of the next pump. A lock is not fair: a thread
        pumping its calls back to back would take it again before this one wakes, and the run's
        states and held writes would wait for the end of the burst instead of a window."""
        if not self._turn.acquire(blocking=False):
            self._wanted = True
            self._turn.acquire()
        self._wanted = False
        try:
            yield
        finally:
            self._turn.release()

    def _handle(self, kind: str, payload: Any) -> None:
        if kind == "add":
            self._on_add(payload)
        elif kind == "running":
            node, _ = payload
            if node.name in self._running:  # not when an abort already ended it
                self._set_status(node, NodeStatus.running)
                node.state.job_started = node.state.job_started or time.time()
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
        elif kind == "raise":  # a pump failed: the run fails as if the loop had
            raise payload

    def _on_add(self, node: Node) -> None:
        self.nodes[node.name] = node
        for parent in node.spec.parents:
            self.children.setdefault(parent, []).append(node.name)
        if node.status in NODE_FINAL:  # reused from an earlier run (resume)
            self._settle(node)
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
        node.state.status = NodeStatus.queued  # reserved; the host confirms when it is created
        self._dirty[node.name] = node

    def _parents_verdict(self, node: Node) -> str:
        for name in node.spec.parents:
            parent = self.nodes.get(name)
            if parent is None or parent.status not in NODE_FINAL:
                return "wait"
        for name in node.spec.parents:
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
            node.state.status = NodeStatus.pending  # so status_changed reports the real move
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
        state = node.state  # (written directly: ClearML's view of it is for users)
        state.job_ended = time.time()
        state.result = outcome.result
        # An end that does not say why (an agent's step stopped from outside) keeps the reason
        # the run gave when it aborted it.
        state.error = outcome.message or ("" if outcome.status == "completed" else state.error)
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
        node.state.executed = node.state.job_id or node.state.executed
        self._dirty[node.name] = node
        self.host.finished(node, outcome)
        self._settle(node)
        for hook in self._final_hooks:
            hook()
        for child in self.children.get(node.name, ()):
            self._consider(self.nodes[child])

    def _settle(self, node: Node) -> None:
        node.state.job = None  # the call's arguments and task record: no longer needed
        with self._settled:
            self._final_steps.add(node.name)
            if self._waiting:  # usually none: a debug step's value is read after it ends
                self._settled.notify_all()

    def _fail_unreachable(self) -> None:
        """Sealed and idle: a step still waiting names a parent that was never added (e.g. a
        component's `parents=` with a typo). It fails, naming it, rather than wait for ever."""
        for node in list(self.nodes.values()):
            missing = [name for name in node.spec.parents if name not in self.nodes]
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
        state = node.state
        previous, state.status = state.status, str(status)
        self._dirty[node.name] = node
        if previous != state.status:
            self.host.status_changed(node, previous)

    def _all_final(self) -> bool:
        return self._open == 0

    def _flush_due(self) -> float | None:
        """How long the loop may wait for an event before held-back states must be sent."""
        if not self._dirty:
            return None
        return max(0.0, self._flushed_at + FLUSH_EVERY_S - time.monotonic())

    def _take_dirty(self, *, now: bool = False) -> list[Node]:
        """The changed states to send (holding the turn); within FLUSH_EVERY_S of the last
        batch none, so a burst of short steps is one write (at the window's end, or the run's)."""
        if not self._dirty:
            return []
        if not now and time.monotonic() - self._flushed_at < FLUSH_EVERY_S:
            return []
        self._flushed_at = time.monotonic()
        batch, self._dirty = list(self._dirty.values()), {}
        return batch

    def _send(self, batch: list[Node]) -> None:
        """Write a batch of states (without the turn: a pump goes on meanwhile)."""
        if not batch:
            return
        try:
            self.host.flush(batch)
        except Exception:  # the store is failing: the run goes on, the states are sent next time
            traceback.print_exc()
            with self._loop_turn():
                for node in batch:
                    self._dirty.setdefault(node.name, node)
