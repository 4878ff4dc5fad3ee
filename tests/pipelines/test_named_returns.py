"""A function step's task laid out as ClearML lays it out (issue 13, item 6).

ClearML keeps a step's return values of type int, float, bool or str as `return/<name>`
parameters (their string form, as `get_parameters()` shows every value) and names an argument fed
by another step's output under `kwargs_artifacts/<arg>` as `"<task_id>.<name>"`. A numpy array
is only an artifact. ductwork still stores every return as an artifact and still feeds inputs
through the `kwargs/<arg>` markers; these sections are for users who read the task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.pipelines.conftest import backend

from ductwork import PipelineController, PipelineDecorator, Task
from ductwork.core.queries import TaskQuery


def make() -> tuple[int, str, bool, float]:
    return 3, "abc", True, 0.5


def grid() -> Any:
    import numpy as np

    return np.arange(3)


def combine(word: str, values: Any, both: list[Any]) -> str:
    return f"{word}:{int(values.sum())}:{len(both)}"


@pytest.fixture(params=["debug", "local"])
def run_mode(request: pytest.FixtureRequest, home: Path) -> str:
    return str(request.param)


def _run(in_process: bool) -> dict[str, str]:
    pipe = PipelineController(name="named returns", project="tests")
    pipe.add_function_step(name="make", function=make, function_return=["x", "y", "flag", "ratio"])
    pipe.add_function_step(name="grid", function=grid, function_return=["arr"])
    pipe.add_function_step(
        name="combine",
        function=combine,
        function_kwargs={"word": "${make.y}", "values": "${grid.arr}", "both": ["${make.x}", "${make.y}"]},
        function_return=["joined"],
    )
    pipe.start_locally(run_pipeline_steps_locally=True, in_process=in_process)
    assert pipe.is_successful(), [n.error for n in pipe.get_pipeline_dag().values()]
    return {name: str(node.executed) for name, node in pipe.get_pipeline_dag().items()}


def test_simple_returns_are_return_parameters_as_clearml_stores_them(run_mode: str) -> None:
    tasks = _run(run_mode == "debug")
    made = Task.get_task(task_id=tasks["make"])
    params = made.get_parameters()
    assert {key: value for key, value in params.items() if key.startswith("return/")} == {
        "return/x": "3",
        "return/y": "abc",
        "return/flag": "True",
        "return/ratio": "0.5",
    }
    assert made.get_parameters(cast=True)["return/x"] == 3
    assert set(made.artifacts) >= {"x", "y", "flag", "ratio"}  # still artifacts: ductwork's route
    gridded = Task.get_task(task_id=tasks["grid"])
    assert not [key for key in gridded.get_parameters() if key.startswith("return/")]
    assert "arr" in gridded.artifacts
    joined = Task.get_task(task_id=tasks["combine"])
    assert joined.get_parameters()["return/joined"] == "abc:3:2"


def test_an_argument_fed_by_another_step_is_named_under_kwargs_artifacts(run_mode: str) -> None:
    tasks = _run(run_mode == "debug")
    params = Task.get_task(task_id=tasks["combine"]).get_parameters()
    named = {key: value for key, value in params.items() if key.startswith("kwargs_artifacts/")}
    # Only a whole-argument input is named (as ClearML names it); the list's outputs are not.
    assert named == {
        "kwargs_artifacts/word": f"{tasks['make']}.y",
        "kwargs_artifacts/values": f"{tasks['grid']}.arr",
    }
    assert Task.get_task(task_id=tasks["make"]).get_parameters().get("kwargs_artifacts/word") is None


@PipelineDecorator.component(return_values=["n"])
def count() -> int:
    return 7


@PipelineDecorator.component(return_values=["doubled"])
def double(n: int) -> int:
    return n * 2


@PipelineDecorator.pipeline(name="named returns decorated", project="tests")
def doubling() -> int:
    return double(count())  # type: ignore[no-any-return]


def test_decorated_steps_get_the_same_sections(mode: str) -> None:
    assert doubling() == 14
    store = backend()
    (run,) = store.query_tasks(TaskQuery(type=["controller"]))
    steps = {
        step.name: Task.get_task(task_id=step.id) for step in store.query_tasks(TaskQuery(parent=run.id))
    }
    counted, doubled = steps["count"], steps["double"]
    assert counted.get_parameters()["return/n"] == "7"
    assert doubled.get_parameters()["return/doubled"] == "14"
    assert doubled.get_parameters()["kwargs_artifacts/n"] == f"{counted.id}.n"
