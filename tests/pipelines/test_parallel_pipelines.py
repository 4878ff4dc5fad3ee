"""`multi_instance_support='parallel'`: pipeline calls run at the same time (issue 13, item 10).

As ClearML documents it: each call returns None at once, and `wait_for_multi_pipelines()`
returns the calls' results in call order."""

from __future__ import annotations

import time

from ductwork import PipelineDecorator


@PipelineDecorator.component(return_values=["span"])
def slow(seconds: float):
    import time as clock

    start = clock.time()
    clock.sleep(seconds)
    return (start, clock.time())


@PipelineDecorator.pipeline(name="parallel", project="tests", multi_instance_support="parallel")
def parallel_pipeline(seconds: float = 0.8, label: str = ""):
    return (label, tuple(slow(seconds)))


def test_parallel_pipeline_calls_overlap(mode: str) -> None:
    began = time.time()
    assert parallel_pipeline(label="first") is None
    assert parallel_pipeline(label="second") is None
    assert time.time() - began < 0.5  # neither call waited for its run
    results = PipelineDecorator.wait_for_multi_pipelines()
    assert [label for label, _ in results] == ["first", "second"]
    (start_1, end_1), (start_2, end_2) = (span for _, span in results)
    assert max(start_1, start_2) < min(end_1, end_2)  # the two runs' steps ran at the same time
    assert PipelineDecorator.wait_for_multi_pipelines() == []
