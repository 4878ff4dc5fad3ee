"""Framework capture for a task `Task.init` did not start (a pipeline step in the runner, say):
`capture.frameworks.start_for(task)` switches it on, in a process that never called Task.init."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from ductwork import Task
from ductwork.core.errors import ValidationError
from ductwork.core.queries import EventQuery
from ductwork.sdk.capture import frameworks
from ductwork.sdk.taskcore import TaskCore

RunScript = Callable[..., subprocess.CompletedProcess[str]]

# What the pipeline runner does with a step's task, plus the one call under test.
STEP = """
import sys
import matplotlib
matplotlib.use("Agg")
from ductwork import Task
from ductwork.sdk.capture import frameworks

task = Task._from_record(Task.get_task(sys.argv[1]).data)
if sys.argv[2] == "on":
    frameworks.start_for(task)
with Task._activate(task):
    import matplotlib.pyplot as plt
    import tensorboardX

    plt.plot([1, 2, 3])
    plt.savefig(sys.argv[3] + "/figure.png")
    writer = tensorboardX.SummaryWriter(logdir=sys.argv[3] + "/runs")
    writer.add_scalar("loss/train", 0.25, 4)
    writer.close()
task.flush(wait_for_uploads=True)
"""


def _events(task_id: str, kind: str) -> list[tuple[str, str, int]]:
    found = Task.get_task(task_id)._backend.get_events(EventQuery(task_id=task_id, kind=kind))
    return sorted((event.title, event.series, event.iteration) for event in found)


@pytest.mark.parametrize("switch", ["on", "off"])
def test_a_step_task_captures_figures_and_tensorboard_once_started_for(
    run_script: RunScript, tmp_path: Path, switch: str
) -> None:
    step = Task.create(project_name="pipe", task_name="step", module="json.tool")
    done = run_script(STEP, step.id, switch, str(tmp_path))
    assert done.returncode == 0, done.stderr
    scalars = _events(step.id, "scalar")
    images = _events(step.id, "image")
    if switch == "on":
        assert scalars == [("loss", "train", 4)]
        assert len(images) == 1
    else:  # what the runner does today: nothing is captured
        assert scalars == []
        assert images == []


def test_switches_follow_task_init(sdk_home: Path) -> None:
    made = Task.create(project_name="pipe", module="json.tool")
    task = TaskCore._wrap(made.data, made._backend)
    frameworks.start_for(task, {"tensorboard": False})
    assert (task._captures("matplotlib"), task._captures("tensorboard")) == (True, False)
    frameworks.start_for(task, False)
    assert not task._captures("matplotlib")
    with pytest.raises(ValidationError, match="auto_connect_frameworks must be a bool or a dict"):
        frameworks.start_for(task, "yes")  # type: ignore[arg-type]
