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

A refused write is not silent: each held unit (a step's start, a step's end) is then written
alone; one that still fails is logged on the run, and its task marked failed where it exists;
one the store could not take at all (unreachable, full) is kept for the next write.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any

from ductwork.core.errors import Conflict, StorageError
from ductwork.pipelines.batching import Call, calls_in_order


class Pending:
    def __init__(self, backend: Any, log: Callable[[str], None]) -> None:
        self.backend = backend
        self.log = log  # the run's log
        # Held while writing, so a thread the store hook sends here waits for the commit.
        self._lock = threading.RLock()
        self._units: list[list[Call]] = []  # each step's start or end: its calls, in order
        self._unrecorded: set[str] = set()  # tasks whose start was refused: their ends are dropped
        # Looked up on the class: a proxy transport (the pipe) answers any name it is asked.
        hooked = callable(getattr(type(backend), "before_use", None))
        self._remove: Callable[[], None] | None = backend.before_use(self.write) if hooked else None

    @property
    def holds_starts(self) -> bool:
        """Whether a step's task may wait too: only where every other use of the store writes
        it first."""
        return self._remove is not None

    def start(self, calls: list[Call]) -> Any:
        """A step's start (its `create_task`, then calls on that task): held when the store
        says first use writes it, else written now with what waits; the created record.
        Its values are checked now either way: bad input fails the step before it runs."""
        if not self.holds_starts:
            return self.write(calls)[0]
        self.backend.check(calls)
        self.add(calls)
        return calls[0][1][0]

    def add(self, calls: list[Call]) -> None:
        """Hold a step's end until the next write."""
        with self._lock:
            self._units.append(calls)

    def write(self, extra: list[Call] | None = None) -> list[Any]:
        """Write what is held, then `extra` (in one batch when the transport has batches); the
        results of `extra`'s calls."""
        with self._lock:
            units, self._units = self._units, []
            waiting = [call for unit in units for call in unit]
            if not waiting:
                return calls_in_order(self.backend, extra) if extra else []
            try:
                results = calls_in_order(self.backend, [*waiting, *(extra or [])])
            except Exception:
                # A batch stops at its first refused call: write each unit alone (its calls are
                # upserts, so ones already made are made again harmlessly), then `extra`.
                kept = [unit for unit in units if not self._written_alone(unit)]
                self._units[:0] = kept  # the store is failing: tried again next time
                return calls_in_order(self.backend, extra) if extra else []
            return results[len(waiting) :]

    def close(self) -> None:
        """Write what is held and stop holding: the run has ended."""
        try:
            self.write()
        finally:
            if self._remove is not None:
                self._remove()
                self._remove = None

    def _written_alone(self, unit: list[Call]) -> bool:
        """Whether `unit` is settled: written, or refused for good (and said so)."""
        task_id = _task_of(unit)
        if task_id in self._unrecorded:
            self.log(f"the end of step task {task_id} was dropped: its start was not recorded")
            return True
        starts = unit[0][0] == "create_task"
        try:
            if starts:
                try:
                    calls_in_order(self.backend, unit[:1])
                except Conflict:
                    pass  # made by the batch, which keeps the calls before the one it stopped at
                unit = unit[1:]
            calls_in_order(self.backend, unit)
        except StorageError:
            return False
        except Exception as exc:
            if isinstance(exc, Conflict) and not starts:  # no longer in progress: aborted?
                self._check_completed(unit)
            else:
                self._refused(task_id, starts, exc)
        return True

    def _refused(self, task_id: str, starts: bool, exc: Exception) -> None:
        """Said on the run; the task fails, saying why, rather than stay in progress (when it
        exists: a step whose start was refused has its end dropped)."""
        what = "start (its task and parameters)" if starts else "results"
        reason = f"its {what} could not be recorded: {type(exc).__name__}: {exc}"
        self.log(f"step task {task_id}: {reason}\n{traceback.format_exc()}")
        if starts:
            self._unrecorded.add(task_id)
        try:
            self.backend.set_status(task_id, "failed", reason=reason, force=True)
        except Exception:
            pass  # its task was never made: the log above is what there is to say

    def _check_completed(self, unit: list[Call]) -> None:
        task_id = _task_of(unit)
        status = str(self.backend.get_task(task_id).status)
        if status != "completed":
            self.log(f"step task {task_id} ended {status} from outside; its results were kept")


def _task_of(unit: list[Call]) -> str:
    """The step task a unit is about: its start's first call creates it (the record's id);
    an end's last call is that task's `set_status`."""
    method, args, _ = unit[0]
    if method == "create_task":
        return str(args[0].id)
    return str(unit[-1][1][0])
