"""A step's matplotlib figures and TensorBoard scalars reach the step's task (issue 13, item 7).

ClearML captures them for any task, a pipeline step included: the step process never calls
`Task.init`, so the runner (and debug mode's in-process call) switch the capture on for the
step's task."""

from __future__ import annotations

from pathlib import Path

import pytest

from ductwork import PipelineController, Task
from ductwork.core.queries import EventQuery


def draw_and_log(folder: str) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import tensorboardX

    plt.plot([1, 2, 3])
    plt.title("curve")
    plt.savefig(folder + "/figure.png")
    writer = tensorboardX.SummaryWriter(logdir=folder + "/runs")
    writer.add_scalar("loss/train", 0.25, 4)
    writer.close()
    return 1


@pytest.fixture(params=["debug", "local"])
def run_mode(request: pytest.FixtureRequest, home: Path) -> str:
    return str(request.param)


def _events(task_id: str, kind: str) -> list[tuple[str, str, int]]:
    found = Task.get_task(task_id=task_id)._backend.get_events(EventQuery(task_id=task_id, kind=kind))
    return sorted((event.title, event.series, event.iteration) for event in found)


def test_a_steps_figures_and_tensorboard_scalars_reach_its_task(run_mode: str, tmp_path: Path) -> None:
    pipe = PipelineController(name="frameworks", project="tests")
    pipe.add_function_step(
        name="draw",
        function=draw_and_log,
        function_kwargs={"folder": str(tmp_path)},
        function_return=["done"],
    )
    pipe.start_locally(run_pipeline_steps_locally=True, in_process=run_mode == "debug")
    assert pipe.is_successful(), [n.error for n in pipe.get_pipeline_dag().values()]
    step = pipe.get_pipeline_dag()["draw"].executed
    assert _events(step, "scalar") == [("loss", "train", 4)]
    assert len(_events(step, "image")) == 1
