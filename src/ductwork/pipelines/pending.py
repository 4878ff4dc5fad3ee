"""In-process steps' ends, written with the run's next store write rather than each alone.

A debug step's end (its results and its `completed` status) is known the moment its function
returns, and nothing of the run reads it from the store until later: the next call gets the
value in memory. Its writes wait here, so that they go in the same transaction as the next
step's task (or the run's next batch of node states, at most `engine.FLUSH_EVERY_S` later): one
commit per step instead of two. Whatever may read them first (a step whose inputs are read
from the store, a cache lookup, a user callback, the run's close) writes them before it runs.

A refused write is not silent: each step's end is then written alone, and one that still fails
is logged on the run and its task marked failed; one the store could not take at all
(unreachable, full) is kept for the next write.
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
        self._lock = threading.Lock()
        self._ends: list[list[Call]] = []  # each step's end: its calls, in order

    def add(self, calls: list[Call]) -> None:
        with self._lock:
            self._ends.append(calls)

    def write(self, extra: list[Call] | None = None) -> list[Any]:
        """Write the waiting step ends, then `extra` (in one batch when the transport has
        batches); the results of `extra`'s calls."""
        extra = extra or []
        with self._lock:
            ends, self._ends = self._ends, []
        waiting = [call for end in ends for call in end]
        if not waiting:
            return calls_in_order(self.backend, extra) if extra else []
        try:
            results = calls_in_order(self.backend, [*waiting, *extra])
        except Exception:
            # A batch stops at its first refused call: write each end alone (its calls are
            # upserts, so ones already made are made again harmlessly), then `extra`.
            kept = [end for end in ends if not self._written_alone(end)]
            if kept:
                with self._lock:
                    self._ends[:0] = kept  # the store is failing: tried again next time
            return calls_in_order(self.backend, extra) if extra else []
        return results[len(waiting) :]

    def _written_alone(self, end: list[Call]) -> bool:
        """Whether `end` is settled: written, or refused for good (and said so)."""
        try:
            calls_in_order(self.backend, end)
        except Conflict:  # its task is no longer in progress: completed by the batch, or aborted
            self._check_completed(end)
        except StorageError:
            return False
        except Exception as exc:  # its task fails, saying why, rather than stay in progress
            self.log(f"a step's results could not be recorded:\n{traceback.format_exc()}")
            reason = f"its results could not be recorded: {type(exc).__name__}: {exc}"
            self.backend.set_status(_task_of(end), "failed", reason=reason, force=True)
        return True

    def _check_completed(self, end: list[Call]) -> None:
        task_id = _task_of(end)
        status = str(self.backend.get_task(task_id).status)
        if status != "completed":
            self.log(f"step task {task_id} ended {status} from outside; its results were kept")


def _task_of(end: list[Call]) -> str:
    """The step task an end completes (its last call is that task's `set_status`)."""
    return str(end[-1][1][0])
