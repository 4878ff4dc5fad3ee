"""Which task is current: a process default (set by `Task.init`) overridable per context.

The pipeline engine runs several in-process steps at once, each in its own thread or context
with its own current task; prints, `Logger.current_logger()` and auto-captured plots of each go
to the right task. Threads started by user code see the process default.

It keeps `TaskCore`s, the part every other part of a Task stands on, so the console, capture
and logger can find the current task without importing the `Task` facade built on them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

from ductwork.sdk.taskcore import TaskCore


class Deferred:
    """A current task made the first time something asks for it (a print, `current_task()`, a
    logger, a figure): a debug step whose body asks nothing costs no task object, console sink
    or capture. `made` is the task once made. As a context manager, it is current inside."""

    def __init__(self, make: Callable[[], TaskCore]) -> None:
        self._make = make
        self._lock = threading.Lock()  # an asyncio task copies the context: two may ask at once
        self.made: TaskCore | None = None
        self._token: Token[TaskCore | Deferred | None] | None = None

    def __enter__(self) -> Deferred:
        self._token = _context.set(self)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _context.reset(self._token)
            self._token = None

    def task(self) -> TaskCore:
        with self._lock:
            if self.made is None:
                self.made = self._make()
            return self.made


_context: ContextVar[TaskCore | Deferred | None] = ContextVar("ductwork_current_task", default=None)
_process_default: list[TaskCore | None] = [None]


def get() -> TaskCore | None:
    found = _context.get()
    if found is None:
        return _process_default[0]
    return found.task() if isinstance(found, Deferred) else found


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
    found = _context.get()
    if found is task or (isinstance(found, Deferred) and found.made is task):
        _context.set(None)
