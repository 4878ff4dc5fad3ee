"""`multi_instance_support='parallel'`: pipeline calls run at the same time (issue 13, item 10).

As ClearML documents it: each call returns None at once, and `wait_for_multi_pipelines()`
returns the calls' results in call order."""

from __future__ import annotations

from pathlib import Path

from ductwork import PipelineDecorator


@PipelineDecorator.component(return_values=["met"])
def meet(folder: str, me: str, other: str):
    """Say this step is running, then wait for the other run's step to say so: True when it
    did while this one still ran (the two ran at the same time), False after a minute."""
    import time
    from pathlib import Path

    Path(folder, me).touch()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if Path(folder, other).exists():
            return True
        time.sleep(0.02)
    return False


@PipelineDecorator.pipeline(name="parallel", project="tests", multi_instance_support="parallel")
def parallel_pipeline(folder: str = "", label: str = "", other: str = ""):
    return (label, bool(meet(folder, label, other)))


def test_parallel_pipeline_calls_overlap(mode: str, tmp_path: Path) -> None:
    # No clock: each run's step waits for the other's. Had the first call waited for its run,
    # or the runs gone one after the other, the first step would wait for a step not started.
    assert parallel_pipeline(folder=str(tmp_path), label="first", other="second") is None
    assert parallel_pipeline(folder=str(tmp_path), label="second", other="first") is None
    results = PipelineDecorator.wait_for_multi_pipelines()
    assert results == [("first", True), ("second", True)]
    assert PipelineDecorator.wait_for_multi_pipelines() == []
