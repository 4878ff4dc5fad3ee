"""Framework capture (matplotlib figures, TensorBoard writers) switched on for one task.

`Task.init` does it for the task it starts. A task made any other way and run in this process
(a pipeline step run by `ductwork.pipelines.runner`, or called in the controller's process in
debug mode) calls `start_for(task)` itself when it becomes the task that runs: capture then
follows that task while it is current, as it does for `Task.init`'s.
"""

from __future__ import annotations

from collections.abc import Mapping

from ductwork.core.errors import ValidationError
from ductwork.sdk.taskcore import TaskCore

NAMES = ("matplotlib", "tensorboard")

Switches = bool | Mapping[str, object]


def switches(value: Switches, what: str = "auto_connect_frameworks") -> dict[str, bool]:
    """`True`/`False` for all, or a dict naming some (those not named stay on, as in ClearML;
    frameworks we do not capture are accepted and ignored)."""
    if isinstance(value, bool):
        return dict.fromkeys(NAMES, value)
    if isinstance(value, Mapping):
        return {name: bool(value.get(name, True)) for name in NAMES}
    raise ValidationError(f"{what} must be a bool or a dict of switches, got {type(value).__name__}")


def start_for(task: TaskCore, frameworks: Switches = True) -> None:
    """Capture the frameworks `frameworks` switches on, for `task` (while it is current)."""
    chosen = switches(frameworks)
    task._frameworks = chosen
    enable(chosen)


def enable(chosen: Mapping[str, bool]) -> None:
    """Watch the frameworks `chosen` switches on, for whichever task is current when they report
    (before a task is made that may only be made when they do: `current.Deferred`)."""
    if chosen["matplotlib"]:
        from ductwork.sdk.capture import matplotlib as mpl_capture

        mpl_capture.enable()
    if chosen["tensorboard"]:
        from ductwork.sdk.capture import tensorboard

        tensorboard.enable()
