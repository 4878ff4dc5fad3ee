"""How a task this process runs ends: everything flushed, losses said, its final status set.

`Task.close()` ends it completed; the process's exit (`lifecycle`) ends the main task as the
process ended (failed with its traceback, stopped by a signal). What could not be stored never
lets a task end as if nothing happened.
"""

from __future__ import annotations

from ductwork.core.errors import Conflict, StatusError, StorageError
from ductwork.core.states import TaskStatus
from ductwork.sdk import current, losses
from ductwork.sdk.capture.console import original_stderr
from ductwork.sdk.taskcore import TaskCore


def finish(
    task: TaskCore, status: str, *, message: str = "", reason: str = "", raise_errors: bool = False
) -> None:
    """Flush, then (if this process started it) move the task from in_progress to `status`.

    A failed upload or a loss turns `completed` into `failed`; with `raise_errors` it is
    raised once the task is ended and detached."""
    if task._closed:
        return
    errors = _flushed(task)
    lost = losses.summary(task.id)
    if lost:
        # What could not be stored is on the task, and it does not end as if nothing happened.
        # A full disk refuses these closing writes too: the embedded store's reserve makes room.
        release = getattr(task._backend, "release_reserve", None)
        if release is not None:
            release()
        _note_losses(task)
        if status == TaskStatus.completed.value:
            status, message, reason = TaskStatus.failed.value, lost, losses.causes(task.id)
        else:
            message = f"{message}; {lost}" if message else lost
            reason = f"{reason}\n{losses.causes(task.id)}"
    elif errors and status == TaskStatus.completed.value:
        status, message, reason = TaskStatus.failed.value, "upload failed", "; ".join(map(str, errors))
    if task._owned:
        _end_running(task, status, message, reason)
    detach(task)
    if raise_errors and (errors or lost):
        losses.raised(task.id)
        raise errors[0] if errors else StorageError(f"task {task.id}: {lost}: {losses.causes(task.id)}")
    losses.silent(task.id)  # nobody was told by an exception: the exit status will say it


def _flushed(task: TaskCore) -> list[Exception]:
    """Wait for the uploads and send what is batched; the errors, not raised."""
    errors: list[Exception] = []
    for send in task._before_flush:
        try:
            send()
        except Exception as exc:
            errors.append(exc)
    try:
        task._uploads.wait()
    except StorageError as exc:
        errors.append(exc)
    if task._console is not None:
        task._console.end_lines()
    try:
        task._channels.flush()
    except Exception as exc:
        errors.append(exc)
    return errors


def _note_losses(task: TaskCore) -> None:
    try:
        runtime = task._backend.get_task(task.id).runtime
        task._edit({"runtime": {**runtime, **losses.as_properties(task.id)}})
    except Exception as exc:  # the store may be what failed (a full disk): stderr still says it
        print(f"ductwork: cannot record the losses on task {task.id}: {exc}", file=original_stderr())


def _end_running(task: TaskCore, status: str, message: str, reason: str) -> None:
    """Move from in_progress only: an agent or the UI may already have stopped the task."""
    try:
        task._record = task._backend.set_status(
            task.id, status, message=message, reason=reason, expect=[TaskStatus.in_progress.value]
        )
    except (Conflict, StatusError):
        task.reload()


def detach(task: TaskCore) -> None:
    """This process no longer runs the task: monitoring, console and capture end for it."""
    task._closed = True
    if task._monitor is not None:
        task._monitor.stop()
        task._monitor = None
    if task._console is not None:
        task._console.end_lines()
    task._console = None
    task._frameworks = {}
    task._captures_args = False
    current.forget(task)
