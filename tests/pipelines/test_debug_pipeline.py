"""`debug_pipeline()`: each component is a plain function call in the caller's thread (issue 13,
item 8), as in ClearML's debug mode, which is what lets a breakpoint or pdb stop in it; a
controller's in-process run keeps its steps concurrent."""

from __future__ import annotations

import threading
import time

from ductwork import PipelineController, PipelineDecorator

CALLS: list[tuple[str, int, float, float]] = []


@PipelineDecorator.component(return_values=["slept"])
def sleeper(label: str, seconds: float):
    import threading as threads
    import time as clock

    start = clock.time()
    clock.sleep(seconds)
    CALLS.append((label, threads.get_ident(), start, clock.time()))
    return label


@PipelineDecorator.pipeline(name="debugged", project="tests")
def debugged(seconds: float = 0.3):
    first = sleeper("a", seconds)
    CALLS.append(("after a", threading.get_ident(), time.time(), time.time()))
    second = sleeper("b", seconds)
    return [first, second]


def test_debug_mode_calls_each_component_in_the_callers_thread(home) -> None:
    PipelineDecorator.debug_pipeline()
    CALLS.clear()
    assert debugged() == ["a", "b"]
    labels = [call[0] for call in CALLS]
    assert labels == ["a", "after a", "b"]  # the call returned after its step ran
    assert {call[1] for call in CALLS} == {threading.get_ident()}


def nap(seconds: float):
    import time as clock

    start = clock.time()
    clock.sleep(seconds)
    return (start, clock.time())


def test_a_controllers_in_process_run_stays_concurrent(home) -> None:
    pipe = PipelineController(name="naps", project="tests")
    for name in ("one", "two"):
        pipe.add_function_step(
            name=name, function=nap, function_kwargs={"seconds": 0.5}, function_return=["t"]
        )
    pipe.start_locally(in_process=True)
    spans = [pipe.get_pipeline_dag()[name] for name in ("one", "two")]
    assert all(node.status == "completed" for node in spans)
    starts = [node.job_started for node in spans]
    ends = [node.job_ended for node in spans]
    assert max(starts) < min(ends)  # they overlapped
