"""Which task is current: a process default (set by `Task.init`) overridable per context.

The pipeline engine runs several in-process steps at once, each in its own thread or context
with its own current task; prints, `Logger.current_logger()` and auto-captured plots of each go
to the right task. Threads started by user code see the process default.

It keeps `TaskCore`s, the part every other part of a Task stands on, so the console, capture
and logger can find the current task without importing the `Task` facade built on them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from ductwork.sdk.taskcore import TaskCore

_context: ContextVar[TaskCore | None] = ContextVar("ductwork_current_task", default=None)
_process_default: list[TaskCore | None] = [None]


def get() -> TaskCore | None:
    return _context.get() or _process_default[0]


def main_task() -> TaskCore | None:
    return _process_default[0]


def set_main(task: TaskCore | None) -> None:
    _process_default[0] = task


@contextmanager
def activate(task: TaskCore) -> Iterator[TaskCore]:
    token = _context.set(task)
    try:
        yield task
    finally:
        _context.reset(token)


def forget(task: TaskCore) -> None:
    """Drop `task` wherever this context can see it (it was closed or deleted)."""
    if _process_default[0] is task:
        _process_default[0] = None
    if _context.get() is task:
        _context.set(None)
