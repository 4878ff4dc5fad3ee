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


@PipelineDecorator.component(return_values=["task_id"])
def talker(word: str):
    from ductwork import Logger, Task

    print(f"said {word}")
    Logger.current_logger().report_scalar("words", "count", 1.0, iteration=0)
    return Task.current_task().id


@PipelineDecorator.component(return_values=["doubled"])
def quiet(x: int):
    return 2 * x


@PipelineDecorator.pipeline(name="made on demand", project="tests")
def on_demand():
    return [talker("hi"), quiet(2)]


def test_a_debug_steps_task_is_made_when_its_body_asks(home, monkeypatch) -> None:
    """A step's Task (console sink, logger, capture) is made on the first print or lookup, for
    that step's own task; a step whose body asks for nothing makes none."""
    from tests.pipelines.conftest import backend

    from ductwork.core.queries import EventQuery, TaskQuery
    from ductwork.sdk.task import Task

    made: list[str] = []
    from_record = Task._from_record.__func__  # type: ignore[attr-defined]

    def counted(cls, record, **kwargs):
        made.append(record.name)
        return from_record(cls, record, **kwargs)

    monkeypatch.setattr(Task, "_from_record", classmethod(counted))
    PipelineDecorator.debug_pipeline()
    task_id, doubled = on_demand()
    assert doubled == 4
    assert [name for name in made if name in ("talker", "quiet")] == ["talker"]
    store = backend()
    step = next(t for t in store.query_tasks(TaskQuery(name="talker")) if t.id == task_id)
    assert step.parent is not None and step.status == "completed"
    assert "said hi" in [line.text for line in store.get_console(task_id)]
    events = store.get_events(EventQuery(task_id=task_id))
    assert [(e.title, e.series, e.value) for e in events] == [("words", "count", 1.0)]
