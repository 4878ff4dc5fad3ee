"""`node.job`: ClearML's job of a step in the callbacks: its task, status, metrics, console;
none before the task exists, the earlier task for a cached step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ductwork import PipelineController


def train(x):
    from ductwork import Task

    logger = Task.current_task().get_logger()
    for i, loss in enumerate([0.9, 0.4, 0.6]):
        logger.report_scalar("loss", "train", loss, i)
    print(f"trained on {x}")
    return x + 1


def pipeline(seen: dict[str, Any], cache: bool) -> PipelineController:
    def before(pipe: PipelineController, node: PipelineController.Node, params: dict[str, Any]) -> bool:
        seen["before"] = node.job
        return True

    def after(pipe: PipelineController, node: PipelineController.Node) -> None:
        job = node.job
        seen.update(
            job=job,
            same=node.job is not None and node.job.task is not None,
            task_id=job.task_id(),
            task=job.task.id,
            cached=job.is_cached_task(),
            status=job.status(),
            completed=job.is_completed() and job.is_stopped() and not job.is_running(),
            metric=job.get_metric("loss", "train"),
            missing=job.get_metric("loss", "nope"),
            iterations=job.iterations(),
            console="\n".join(job.get_console_output()),
            elapsed=job.elapsed(),
            executed=node.executed,
        )

    pipe = PipelineController(name="jobs", project="jobs")
    pipe.add_function_step(
        "train",
        train,
        function_kwargs={"x": 1},
        function_return=["y"],
        cache_executed_step=cache,
        pre_execute_callback=before,
        post_execute_callback=after,
    )
    return pipe


def test_a_step_s_job_in_the_callbacks(home: Path) -> None:
    seen: dict[str, Any] = {}
    pipeline(seen, cache=True).start_locally(run_pipeline_steps_locally=True)
    assert seen["before"] is None  # no task yet: ClearML's pre_execute_callback has no job either
    assert seen["task_id"] == seen["task"] == seen["executed"]
    assert seen["cached"] is False and seen["status"] == "completed" and seen["completed"]
    assert seen["metric"] == (0.4, 0.9, 0.6) and seen["missing"] is None
    assert seen["iterations"] == 2
    assert "trained on 1" in seen["console"]
    assert seen["elapsed"] >= 0

    again: dict[str, Any] = {}
    pipeline(again, cache=True).start_locally(run_pipeline_steps_locally=True)
    assert again["cached"] is True  # nothing ran: the job is the task of the first run
    assert again["task_id"] == seen["task_id"] and again["metric"] == (0.4, 0.9, 0.6)
