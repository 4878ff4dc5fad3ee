"""In-process steps' writes, held back and made with the run's next store write.

A debug step's task is made, its function called and its results known within a millisecond,
and nothing of the run reads them from the store until later: the next call gets the value in
memory. So its writes (the task and its parameters when it starts, its results and its
`completed` status when it ends) wait here and go in the next transaction of the run: the
run's next batch of node states, at most `engine.FLUSH_EVERY_S` later. One commit for the many
steps of a window instead of two each, which was most of a short step's cost.

On the embedded store, what is held back is written before anything else of this process uses
the store (`Store.before_use`): a step body's metrics, a callback's read, the web UI served
from the same process, another thread: each first waits for the held writes to be committed,
so no one here ever reads a store without them. Another process sees them one window late,
like the node states. A transport without that hook (HTTP) writes a step's task at once; only
its ends wait, and whatever may read them (a step whose inputs are read from the store, a
cache lookup, a user callback, the run's close) writes them first.

A step that starts and ends within one window is written as it ended: its task is created
`completed`, without the update that would complete it a moment later.

A refused write is not silent: each held unit (a step's start, a step's end) is then written
alone; one that still fails is logged on the run, and its task marked failed where it exists;
one the store could not take at all (unreachable, full) is kept for the next write.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ductwork.core.errors import Conflict, StorageError
from ductwork.pipelines.batching import Call, calls_in_order


@dataclass
class Unit:
    """A step's start (its task and parameters, as the store checked them: `Store.hold_start`)
    or end (its results, then the `set_status` that completes it), written together or not at all."""

    task_id: str
    calls: list[Call]  # an end's
    ended: float | None = None  # an end: when the step ended
    held: Any = None  # a start's rows (an end has none)
    tried: bool = False  # written once already, the answer lost: it may be in the store

    @property
    def starts(self) -> bool:
        return self.held is not None


# Units held at most: past it, the thread adding one writes them. Steps made faster than the
# run's writer takes them would otherwise pile up (with their records, for the garbage collector
# to walk again and again) and be lost together by a crash.
HOLD_AT_MOST = 500

# This thread writes no held writes before its store calls (`Pending.aside`).
_aside = threading.local()


class Pending:
    def __init__(self, backend: Any, log: Callable[[str], None], *, starts: bool = True) -> None:
        """`starts`: steps' starts may be held too (a run whose steps run in this process)."""
        self.backend = backend
        self.log = log  # the run's log
        self._lock = threading.Lock()  # the list: a step adds to it while a batch is written
        # Held while writing, so a thread the store hook sends here waits for the commit.
        self._writing = threading.RLock()
        self._units: list[Unit] = []
        self._unrecorded: set[str] = set()  # tasks whose start was refused: their ends are dropped
        # Looked up on the class: a proxy transport (the pipe) answers any name it is asked.
        hooked = starts and callable(getattr(type(backend), "before_use", None))
        self._remove: Callable[[], None] | None = backend.before_use(self._first) if hooked else None

    @property
    def holds_starts(self) -> bool:
        """Whether a step's task may wait too: only where every other use of the store writes
        it first."""
        return self._remove is not None

    def start(self, calls: list[Call]) -> Any:
        """A step's start (`calls[0]` creates its task): held when the store writes it before
        any other use, else written now with what waits; the created record. Its values are
        checked now either way: bad input fails the step before it runs."""
        record, params = calls[0][1][0], _parameters(calls)
        if not self.holds_starts or params is None:
            return self.write(calls)[0]
        held = self.backend.hold_start(record, params)  # checked once: the write trusts it
        # Only the rows wait: the record and its parameters die with the call (what a debug
        # step leaves alive for a window, the garbage collector walks again and again).
        self._hold(Unit(str(record.id), [], held=held))
        return record

    def end(self, task_id: str, calls: list[Call]) -> None:
        """Hold a step's end (its last call completes the task) until the next write."""
        self._hold(Unit(task_id, calls, ended=time.time()))

    def _hold(self, unit: Unit) -> None:
        with self._lock:
            self._units.append(unit)
            full = len(self._units) >= HOLD_AT_MOST
        if full:  # the writer fell behind (a long write, a collection): this thread writes
            self.write()

    @contextmanager
    def aside(self) -> Iterator[None]:
        """This thread's store calls inside do not write what is held first (here or in any
        run of this process): for a read that does not depend on it (the run's own status),
        which would otherwise cost a commit, and for a batch being written (see `write`)."""
        before = getattr(_aside, "on", False)
        _aside.on = True
        try:
            yield
        finally:
            _aside.on = before

    def _first(self) -> None:
        if not getattr(_aside, "on", False):
            self.write()

    def write(self, extra: list[Call] | None = None) -> list[Any]:
        """Write what is held, then `extra` (in one batch when the transport has batches); the
        results of `extra`'s calls."""
        # Aside: the batch's own use of the store writes neither what was added here since nor
        # another run's held writes first (that run's thread may be waiting for this one's).
        with self._writing, self.aside():
            with self._lock:
                units, self._units = self._units, []
            units = _folded(units)
            if not units:
                return calls_in_order(self.backend, extra) if extra else []
            try:
                return self._batch(units, extra or [])
            except Exception:
                # Write each unit alone (after a partial batch, its calls are upserts, so ones
                # already made are made again harmlessly), then `extra`.
                kept = [unit for unit in units if not self._written_alone(unit)]
                for unit in kept:
                    unit.tried = True
                with self._lock:
                    self._units[:0] = kept  # the store is failing: tried again next time
                return calls_in_order(self.backend, extra) if extra else []

    def _batch(self, units: list[Unit], extra: list[Call]) -> list[Any]:
        """Write `units` then `extra`; the results of `extra`'s calls."""
        if not self.holds_starts:
            waiting = [call for unit in units for call in unit.calls]
            return calls_in_order(self.backend, [*waiting, *extra])[len(waiting) :]
        # The store: all or nothing (a savepoint a call less), the steps' writes in bulk.
        starts = [unit.held for unit in units if unit.starts]
        bulk = _in_bulk([call for unit in units for call in unit.calls])
        results: list[Any] = self.backend.batch_held(starts, [*bulk, *extra])
        return results[len(bulk) :]

    def close(self) -> None:
        """Write what is held and stop holding: the run has ended."""
        try:
            self.write()
        finally:
            if self._remove is not None:
                self._remove()
                self._remove = None

    def _written_alone(self, unit: Unit) -> bool:
        """Whether `unit` is settled: written, or refused for good (and said so)."""
        if unit.task_id in self._unrecorded:
            self.log(f"the end of step task {unit.task_id} was dropped: its start was not recorded")
            return True
        calls = unit.calls
        try:
            if unit.starts:
                try:
                    self.backend.batch_held([unit.held], [])
                except Conflict:
                    pass  # made by a commit whose answer was lost: this is its second try
            calls_in_order(self.backend, calls)
        except StorageError:
            return False
        except Exception as exc:
            if isinstance(exc, Conflict) and not unit.starts:  # no longer in progress: aborted?
                self._check_completed(unit.task_id)
            else:
                self._refused(unit, exc)
        return True

    def _refused(self, unit: Unit, exc: Exception) -> None:
        """Said on the run; the task fails, saying why, rather than stay in progress (when it
        exists: a step whose start was refused has its end dropped)."""
        what = "start (its task and parameters)" if unit.starts else "results"
        reason = f"its {what} could not be recorded: {type(exc).__name__}: {exc}"
        self.log(f"step task {unit.task_id}: {reason}\n{traceback.format_exc()}")
        if unit.starts:
            self._unrecorded.add(unit.task_id)
        try:
            self.backend.set_status(unit.task_id, "failed", reason=reason, force=True)
        except Exception:
            pass  # its task was never made: the log above is what there is to say

    def _check_completed(self, task_id: str) -> None:
        status = str(self.backend.get_task(task_id).status)
        if status != "completed":
            self.log(f"step task {task_id} ended {status} from outside; its results were kept")


def _folded(units: list[Unit]) -> list[Unit]:
    """`units` with each step that starts and ends among them created as it ended: `completed`
    at its end's time, its end without the `set_status` (no one saw it in progress to stop it)."""
    # (not a start tried before: it may be in the store in progress, and its end must complete it)
    starts = {unit.task_id: i for i, unit in enumerate(units) if unit.starts and not unit.tried}
    if not starts:
        return units
    folded = list(units)
    for i, unit in enumerate(units):
        first = starts.get(unit.task_id)
        if unit.starts or first is None or not _completes(unit):
            continue
        held = folded[first].held.completed(unit.ended)
        folded[first] = Unit(unit.task_id, [], held=held)
        folded[i] = Unit(unit.task_id, unit.calls[:-1], ended=unit.ended)
    return folded


def _parameters(calls: list[Call]) -> dict[str, Any] | None:
    """The parameters a start's calls set on its new task (`calls[0]` creates it); None when
    they do anything else."""
    method, args, kwargs = calls[0]
    if method != "create_task" or kwargs:
        return None
    params: dict[str, Any] = {}
    for method, args, kwargs in calls[1:]:
        if method != "set_parameters" or kwargs or args[0] != calls[0][1][0].id:
            return None
        params.update(args[1])
    return params


def _completes(unit: Unit) -> bool:
    method, args, _ = unit.calls[-1]
    return method == "set_status" and tuple(args[:2]) == (unit.task_id, "completed")


# Tasks' parameters (artifacts) in one bulk call at most: the statement's bound values stay
# well under what SQLite and PostgreSQL take in one statement.
BULK = 500


def _in_bulk(calls: list[Call]) -> list[Call]:
    """Held steps' other calls as the store's bulk writes (their new tasks are written before, by
    `Store.batch_held`): their parameters, then their artifacts, each in one statement, then the
    other calls in order. Each task's own writes keep their order (created, then written to,
    then completed), and steps are independent."""
    params: dict[str, dict[str, Any]] = {}
    artifacts: list[Any] = []
    rest: list[Call] = []
    for call in calls:
        method, args, kwargs = call
        if method == "set_parameters" and not kwargs:
            params.setdefault(args[0], {}).update(args[1])
        elif method == "put_artifact" and not kwargs:
            artifacts.append(args[0])
        else:
            rest.append(call)
    ids = list(params)
    bulk: list[Call] = [
        ("set_parameters_of", ({task_id: params[task_id] for task_id in ids[i : i + BULK]},), {})
        for i in range(0, len(ids), BULK)
    ]
    bulk += [("put_artifacts", (artifacts[i : i + BULK],), {}) for i in range(0, len(artifacts), BULK)]
    return [*bulk, *rest]
