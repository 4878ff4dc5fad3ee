"""What this process could not store, per task: counted, with its cause, and never silent.

A writer that gives up on some records (the retry window passed while the disk stayed full or
the server stayed away; the backend refused a value the SDK could not check) calls `record`.
The loss is said on stderr at once; the task carries it when it ends (it cannot end completed,
its runtime properties say how much was lost and why); and a process that exits while some
loss was never raised to a caller exits with status 1, since atexit handlers cannot set the
status any other way than by ending the process themselves.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from dataclasses import dataclass

# The exit status of a process that would have exited 0 with data lost.
EXIT_STATUS = 1

_lock = threading.Lock()


@dataclass
class Loss:
    kind: str  # "scalar point", "console line", "artifact", ...
    count: int
    cause: str  # the first cause seen


_by_task: dict[str, dict[str, Loss]] = {}
_unraised: set[str] = set()  # tasks whose losses no caller has been told about by an exception


def record(task_id: str, kind: str, count: int, cause: str) -> None:
    """Count `count` records of `kind` of `task_id` as lost because of `cause` (said on stderr)."""
    if count <= 0:
        return
    with _lock:
        by_kind = _by_task.setdefault(task_id, {})
        loss = by_kind.get(kind)
        if loss is None:
            by_kind[kind] = Loss(kind, count, cause)
        else:
            loss.count += count
        _unraised.add(task_id)
    _say(f"ductwork: task {task_id}: {count} {kind}(s) could not be stored: {cause}")


def of(task_id: str) -> list[Loss]:
    with _lock:
        return [Loss(loss.kind, loss.count, loss.cause) for loss in _by_task.get(task_id, {}).values()]


def summary(task_id: str) -> str:
    """'lost 12 scalar point(s), 1 artifact(s)', or '' when nothing was lost."""
    found = of(task_id)
    if not found:
        return ""
    return "lost " + ", ".join(f"{loss.count} {loss.kind}(s)" for loss in found)


def causes(task_id: str) -> str:
    return "; ".join(f"{loss.count} {loss.kind}(s): {loss.cause}" for loss in of(task_id))


def as_properties(task_id: str) -> dict[str, object]:
    """The runtime properties a task carries for its losses."""
    return {
        "lost": {loss.kind: loss.count for loss in of(task_id)},
        "lost_causes": {loss.kind: loss.cause for loss in of(task_id)},
    }


def raised(task_id: str) -> None:
    """A caller got an exception for this task's losses: they are no longer silent."""
    with _lock:
        _unraised.discard(task_id)


def silent(task_id: str) -> None:
    """The exception that told of this task's losses was swallowed (a close at exit)."""
    with _lock:
        if task_id in _by_task:
            _unraised.add(task_id)


def unraised() -> list[str]:
    with _lock:
        return sorted(_unraised)


def _say(text: str) -> None:
    stream = sys.__stderr__
    try:
        if stream is not None:
            print(text, file=stream, flush=True)
    except Exception:
        pass  # no stderr left at exit: the task and the exit status still say it


def _exit_status() -> None:
    """Registered before the writers' own exit flushes, so it runs after them (atexit is last in,
    first out): end the process with status 1 if some loss was never raised to a caller."""
    lost = unraised()
    if not lost:
        return
    _say(f"ductwork: exiting with status {EXIT_STATUS}: data of task(s) {', '.join(lost)} was lost")
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except Exception:
            pass
    os._exit(EXIT_STATUS)


def _reset_after_fork() -> None:
    # A forked child's losses are its own; the parent's are the parent's to report.
    global _lock
    _lock = threading.Lock()
    _by_task.clear()
    _unraised.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
atexit.register(_exit_status)
