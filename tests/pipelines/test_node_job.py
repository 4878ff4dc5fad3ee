"""`node.job`: ClearML's job of a step in the callbacks: its task, status, metrics, console;
none before the task exists, the earlier task for a cached step; abort() stops a step."""

from __future__ import annotations

import threading
import time
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


def slow(x):
    import time

    time.sleep(60)
    return x


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


def test_a_step_stopped_from_outside_ends_aborted(home: Path) -> None:
    """What the web UI's abort of one step does (its task turns stopped): a step process of this
    controller is stopped, not left to run to its end."""
    pipe = PipelineController(name="aborted", project="jobs")
    pipe.add_function_step("slow", slow, function_kwargs={"x": 1}, function_return=["y"])
    runner = threading.Thread(target=pipe.start_locally, kwargs={"run_pipeline_steps_locally": True})
    started = time.monotonic()
    runner.start()
    node = pipe.get_pipeline_dag()["slow"]
    while node.job is None or not node.job.is_running():
        assert time.monotonic() - started < 50, node.status
        time.sleep(0.05)
    node.job.abort()
    runner.join(50)
    assert not runner.is_alive(), "the step ran on after its task was stopped"
    assert node.status == "aborted" and node.job.is_aborted(), (node.status, node.job.status())
    assert "stopped from outside" in node.error
