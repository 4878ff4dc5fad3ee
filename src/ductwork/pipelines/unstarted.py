"""Controller tasks this process made whose pipeline it never started or saved: at exit, each
one still a draft ends failed, saying so, instead of staying in the runs list as a draft forever.

A controller task exists from the constructor on (ClearML's `Task.current_task()` must see it),
so a script that raises while it adds steps, or ends without `start()`, would leave it behind.
What counts as started or saved is writing the run (`RunWriting._serialize`: `start`,
`start_locally`, `create_draft`, `start(queue=None)`). A refusal at the start itself (the
pipeline's checks) ends the task at once (`refuse`).
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from types import TracebackType

from ductwork.client.contract import Backend

_MESSAGE_LIMIT = 2000

_lock = threading.Lock()
_made: dict[str, Backend] = {}  # task id -> the backend it lives in
_raised: list[str] = []  # the uncaught exception this process ends with, if any
_installed: list[int] = []  # the pid whose exit handler is installed


def made(task_id: str, backend: Backend) -> None:
    """A controller task this process created for a pipeline it may start."""
    with _lock:
        _made[task_id] = backend
        if os.getpid() not in _installed:
            _installed.append(os.getpid())
            atexit.register(_at_exit, os.getpid())
            _remember_uncaught()


def written(task_id: str) -> None:
    """Its run was written: started, enqueued or saved as a draft on purpose."""
    with _lock:
        _made.pop(task_id, None)


def refuse(task_id: str, backend: Backend, message: str) -> None:
    """The pipeline failed its checks before it started: the draft ends failed, saying why."""
    written(task_id)
    _fail(task_id, backend, message)


def _fail(task_id: str, backend: Backend, message: str) -> None:
    try:
        backend.set_status(task_id, "failed", message=message[:_MESSAGE_LIMIT], expect=["created"])
    except Exception:  # it started meanwhile, or its store is gone: nothing to end
        pass


def _remember_uncaught() -> None:
    previous = sys.excepthook

    def excepthook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        _raised.append(f"{kind.__name__}: {value}")
        previous(kind, value, tb)

    sys.excepthook = excepthook


def _at_exit(pid: int) -> None:
    if os.getpid() != pid:  # a forked child inherits the handler, not the drafts
        return
    with _lock:
        left = list(_made.items())
        _made.clear()
    why = f": {_raised[-1]}" if _raised else ""
    for task_id, backend in left:
        _fail(task_id, backend, f"never started: the process that defined it ended before start(){why}")
