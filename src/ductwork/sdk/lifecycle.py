"""How the main task of a process ends: completed, failed with its traceback, or stopped.

`watch(task)` installs, once per process: an `atexit` handler that closes the main task, a
`sys.excepthook` that remembers an uncaught exception, a `sys.exit` wrapper that remembers a
non-zero exit code and a SIGTERM handler (only if none is set) so a terminated task is marked
stopped instead of staying in progress.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType, TracebackType

from ductwork.sdk import batcher, current
from ductwork.sdk.capture.console import original_stderr
from ductwork.sdk.ending import finish

_REASON_LIMIT = 8000  # the tail of a traceback is the part that says what went wrong

_lock = threading.Lock()
_installed = [False]


@dataclass
class _Outcome:
    """What this process saw that decides how its main task ends."""

    pid: int = 0  # the process that watches (a forked child is not it)
    exception: tuple[type[BaseException], BaseException, TracebackType | None] | None = None
    exit: object = None  # what sys.exit was called with
    signal: int | None = None

    def reset(self, pid: int) -> None:
        self.pid, self.exception, self.exit, self.signal = pid, None, None, None


_outcome = _Outcome()


def watch() -> None:
    """Start watching for a new main task (what earlier ones saw is forgotten)."""
    with _lock:
        _outcome.reset(os.getpid())
        if _installed[0]:
            return
        _installed[0] = True
    atexit.register(_at_exit)
    _wrap_excepthook()
    _wrap_exit()
    _handle_sigterm()


def _wrap_excepthook() -> None:
    previous = sys.excepthook

    def excepthook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        _outcome.exception = (kind, value, tb)
        previous(kind, value, tb)

    sys.excepthook = excepthook


def _wrap_exit() -> None:
    previous: Callable[..., object] = sys.exit

    def exit(status: object = None) -> None:
        _outcome.exit = status
        previous(status)

    sys.exit = exit  # type: ignore[assignment]


def _handle_sigterm() -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    try:
        if signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None):
            return

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            _outcome.signal = signum
            raise SystemExit(128 + signum)

        signal.signal(signal.SIGTERM, on_sigterm)
    except (ValueError, OSError):
        pass


def ending() -> tuple[str, str, str]:
    """(status, message, reason) the main task should end with, from what this process saw."""
    if _outcome.signal is not None:
        return "stopped", "terminated", f"the process received signal {_outcome.signal}"
    if _outcome.exception is not None:
        kind, value, tb = _outcome.exception
        if issubclass(kind, KeyboardInterrupt):
            return "stopped", "interrupted", "KeyboardInterrupt"
        text = "".join(traceback.format_exception(kind, value, tb))
        return "failed", f"{kind.__name__}: {value}"[:200], text[-_REASON_LIMIT:]
    status = _outcome.exit
    if status not in (None, 0):
        code = status if isinstance(status, int) else 1
        return "failed", f"exit code {code}", f"the process called sys.exit({status!r})"
    return "completed", "", ""


def _at_exit() -> None:
    task = current.main_task()
    # A forked child inherits this handler and the parent's task; only the parent ends it.
    if task is not None and not task._closed and _outcome.pid == os.getpid():
        status, message, reason = ending()
        try:
            finish(task, status, message=message, reason=reason)
        except Exception as exc:
            print(f"ductwork: closing task {task.id} failed: {exc}", file=original_stderr())
    batcher.flush_all()
