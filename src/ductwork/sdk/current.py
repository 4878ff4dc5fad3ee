"""Which task is current: a process default (set by `Task.init`) overridable per context.

The pipeline engine runs several in-process steps at once, each in its own thread or context
with its own current task; prints, `Logger.current_logger()` and auto-captured plots of each go
to the right task. Threads started by user code see the process default.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ductwork.sdk.task import Task

_context: ContextVar[Task | None] = ContextVar("ductwork_current_task", default=None)
_process_default: list[Task | None] = [None]


def get() -> Task | None:
    return _context.get() or _process_default[0]


def main_task() -> Task | None:
    return _process_default[0]


def set_main(task: Task | None) -> None:
    _process_default[0] = task


@contextmanager
def activate(task: Task) -> Iterator[Task]:
    token = _context.set(task)
    try:
        yield task
    finally:
        _context.reset(token)


def forget(task: Task) -> None:
    """Drop `task` wherever this context can see it (it was closed or deleted)."""
    if _process_default[0] is task:
        _process_default[0] = None
    if _context.get() is task:
        _context.set(None)
