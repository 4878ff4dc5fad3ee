"""`multi_instance_support='parallel'`: each call of a pipeline function runs in the background.

As in ClearML, the call returns None at once and `PipelineDecorator.wait_for_multi_pipelines()`
returns the calls' results in call order (raising the first call's error, if one failed). Each
call is its own run, in a thread of this process with a copy of the caller's context; ductwork
keeps several runs in one process apart (see `decorator`), so no process is needed per call.
The threads are not daemons: the interpreter waits for them before it exits.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

_lock = threading.Lock()
_pending: list[Future[Any]] = []


def start(call: Callable[[], Any]) -> None:
    """Run `call` in a new thread; its result is kept for `wait_all`."""
    future: Future[Any] = Future()
    context = contextvars.copy_context()

    def run() -> None:
        future.set_running_or_notify_cancel()
        try:
            future.set_result(context.run(call))
        except BaseException as exc:  # handed to whoever waits for the results
            future.set_exception(exc)

    with _lock:
        _pending.append(future)
    threading.Thread(target=run, name="ductwork-pipeline-call").start()


def wait_all() -> list[Any]:
    """Wait for every call started so far: their results, in call order."""
    with _lock:
        pending = list(_pending)
        _pending.clear()
    return [future.result() for future in pending]
