"""Decorator pipelines running at the same time in one process, each in its own thread: each
returns its own result, records its own steps, and no component call lands in the other run."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.pipelines.conftest import backend

from ductwork import PipelineDecorator
from ductwork.core.errors import ValidationError
from ductwork.core.queries import TaskQuery

# The pipeline functions wait here for each other, so that both runs are under way at once;
# a broken barrier (one run never came) fails the test instead of hanging it.
_meeting: list[threading.Barrier | None] = [None]


def _meet() -> None:
    barrier = _meeting[0]
    if barrier is not None:
        barrier.wait(timeout=120)


@pytest.fixture
def meeting() -> Iterator[Callable[[int], None]]:
    def arrange(parties: int) -> None:
        _meeting[0] = threading.Barrier(parties)

    yield arrange
    _meeting[0] = None


@PipelineDecorator.component(return_values=["squared"])
def square(x):
    return x * x


@PipelineDecorator.component(return_values=["shifted"])
def shift(x, by):
    return x + by


@PipelineDecorator.component(return_values=["total"])
def add_up(values):
    return sum(values)


@PipelineDecorator.component(return_values=["controller"])
def whose():
    from ductwork import PipelineDecorator as Pipe

    return Pipe.get_current_pipeline()._task.id


@PipelineDecorator.pipeline(name="squares", project="tests")
def squares(n: int = 3):
    _meet()
    parts = [square(i) for i in range(n)]
    _meet()  # both runs have called their fan-out; neither has used a value yet
    return add_up(parts)


@PipelineDecorator.pipeline(name="shifts", project="tests")
def shifts(n: int = 3, by: int = 100):
    _meet()
    parts = [shift(i, by) for i in range(n)]
    _meet()
    return add_up(parts)


def run_together(*calls: Callable[[], Any]) -> list[Any]:
    """Each call in its own thread, all at once; their results (or exceptions) in order."""
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            results[index] = calls[index]()
        except BaseException as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    return results


def runs_by(key: Callable[[Any], Any]) -> dict[Any, Any]:
    store = backend()
    return {key(run): run for run in store.query_tasks(TaskQuery(type=["controller"]))}


def steps_of(run_id: str) -> dict[str, Any]:
    """The run's step tasks by name, checked against the DAG it recorded."""
    store = backend()
    steps = {step.name: step for step in store.query_tasks(TaskQuery(parent=run_id))}
    nodes = {node.name: node for node in store.get_nodes(run_id)}
    assert set(nodes) == set(steps)
    assert {node.task_id for node in nodes.values()} == {step.id for step in steps.values()}
    assert all(step.status == "completed" for step in steps.values())
    return steps


def test_two_pipelines_at_once_keep_their_steps(mode: str, meeting) -> None:
    meeting(2)
    assert run_together(lambda: squares(n=3), lambda: shifts(n=3, by=100)) == [0 + 1 + 4, 303]
    runs = runs_by(lambda run: run.name)
    assert set(runs) == {"squares", "shifts"}
    assert all(run.status == "completed" for run in runs.values())
    assert set(steps_of(runs["squares"].id)) == {"square", "square_1", "square_2", "add_up"}
    assert set(steps_of(runs["shifts"].id)) == {"shift", "shift_1", "shift_2", "add_up"}


def test_one_pipeline_twice_at_once_with_different_arguments(mode: str, meeting) -> None:
    meeting(2)
    assert run_together(lambda: shifts(n=3, by=10), lambda: shifts(n=2, by=1000)) == [33, 2001]
    store = backend()
    runs = runs_by(lambda run: store.get_parameters(run.id)["Args/by"].value)
    assert set(runs) == {10, 1000}
    assert set(steps_of(runs[10].id)) == {"shift", "shift_1", "shift_2", "add_up"}
    assert set(steps_of(runs[1000].id)) == {"shift", "shift_1", "add_up"}
    for by, run in runs.items():  # each step got its own run's argument
        for step in steps_of(run.id).values():
            if step.name.startswith("shift"):
                assert store.get_parameters(step.id)["kwargs/by"].value == by


@PipelineDecorator.pipeline(name="threaded", project="tests")
def threaded(n: int = 3, by: int = 0):
    _meet()
    parts: list[Any] = [None] * n

    def work(i: int) -> None:
        parts[i] = shift(i, by)

    # each thread runs in a copy of this context, so its calls go to this pipeline
    workers = [threading.Thread(target=contextvars.copy_context().run, args=(work, i)) for i in range(n)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    _meet()
    return add_up(parts)


def test_threads_started_in_a_pipeline_with_its_context_call_into_it(mode: str, meeting) -> None:
    meeting(2)
    assert run_together(lambda: threaded(n=3, by=0), lambda: threaded(n=3, by=50)) == [3, 153]
    store = backend()
    runs = runs_by(lambda run: store.get_parameters(run.id)["Args/by"].value)
    for run in runs.values():
        assert set(steps_of(run.id)) == {"shift", "shift_1", "shift_2", "add_up"}


@PipelineDecorator.pipeline(name="bare", project="tests")
def bare(x: int = 1):
    _meet()
    out: list[Any] = []

    def work() -> None:
        try:
            out.append(int(shift(x, 1)))
        except ValidationError as exc:
            out.append(str(exc))

    worker = threading.Thread(target=work)  # no context copied: only a lone run is found
    worker.start()
    worker.join()
    _meet()
    return out[0]


def test_a_thread_without_the_context_finds_a_lone_pipeline(home) -> None:
    PipelineDecorator.debug_pipeline()
    assert bare(x=4) == 5
    (run,) = runs_by(lambda run: run.name).values()
    assert set(steps_of(run.id)) == {"shift"}


def test_a_thread_without_the_context_is_refused_among_several_pipelines(home, meeting) -> None:
    PipelineDecorator.debug_pipeline()
    meeting(2)
    for result in run_together(lambda: bare(x=1), lambda: bare(x=2)):
        assert "2 pipelines run in this process" in result
        assert "contextvars.copy_context().run" in result
    for run in runs_by(lambda run: run.id).values():
        assert steps_of(run.id) == {}  # the refused call was not recorded anywhere


@PipelineDecorator.pipeline(name="owners", project="tests")
def owners(n: int = 2):
    _meet()
    found = [whose() for _ in range(n)]
    _meet()
    return [str(f) for f in found]


def test_debug_steps_find_their_own_pipeline(home, meeting) -> None:
    """A debug step runs on its run's threads, with no pipeline in its context: it is found
    through the step's task."""
    PipelineDecorator.debug_pipeline()
    meeting(2)
    first, second = run_together(lambda: owners(n=2), lambda: owners(n=3))
    runs = runs_by(lambda run: backend().get_parameters(run.id)["Args/n"].value)
    assert first == [runs[2].id] * 2
    assert second == [runs[3].id] * 3


@PipelineDecorator.pipeline(name="gated", project="tests")
def gated(x: int = 3):
    checked = square(x)
    seen: list[bool] = []
    looker = threading.Thread(target=contextvars.copy_context().run, args=(lambda: seen.append(checked > 0),))
    looker.start()
    looker.join()
    unrelated = shift(x, 1)  # this thread used no value: no edge from "square"
    if checked > 0:  # this thread used it now: its next call depends on it
        return add_up([unrelated])
    return None


def test_a_used_value_orders_only_the_next_call_of_the_same_thread(home) -> None:
    import json

    PipelineDecorator.debug_pipeline()
    assert gated(x=3) == 4
    (run,) = runs_by(lambda run: run.name).values()
    dag = json.loads(backend().get_configurations(run.id)["Pipeline"].text)
    assert dag["shift"]["parents"] == []
    assert dag["add_up"]["parents"] == ["shift", "square"]
