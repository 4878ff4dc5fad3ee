"""User decorators on step functions, as ClearML runs them (issue 13, item 1).

ClearML's `decorated_pipeline_step_decorators.py` example stacks a user decorator under
`@PipelineDecorator.component`: the step runs the decorated function in every mode (debug,
local processes, agents). A wrapper written without `functools.wraps` still names the step after
the user's function, which ClearML finds inside the wrapper."""

from __future__ import annotations

import functools

import pytest
from tests.pipelines.conftest import backend

from ductwork import PipelineController, PipelineDecorator, Task
from ductwork.core.queries import TaskQuery


def twice(function):
    """Doubles what the function returns; a well-behaved decorator (functools.wraps)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        return 2 * function(*args, **kwargs)

    return wrapper


def plus_ten(function):
    """Adds ten; written without functools.wraps, so the wrapper keeps its own name."""

    def function_wrapper(*args, **kwargs):
        return function(*args, **kwargs) + 10

    return function_wrapper


@PipelineDecorator.component(return_values=["one"])
@twice
def one():
    return 1


@PipelineDecorator.component(return_values=["three"])
@plus_ten
def three(x):
    return x


@PipelineDecorator.pipeline(name="wrapped", project="tests")
def wrapped():
    return one() + three(3) * 100


def step_names() -> set[str]:
    store = backend()
    run = store.query_tasks(TaskQuery(type=["controller"]))[0]
    return {t.name for t in store.query_tasks(TaskQuery(parent=run.id))}


def test_a_components_own_decorators_run_in_every_mode(mode: str) -> None:
    assert wrapped() == 2 + 1300
    assert step_names() == {"one", "three"}  # not "function_wrapper"


@twice
def doubled_step(x: int):
    return x + 1


@plus_ten
def ten_more(x: int):
    return x + 1


@pytest.fixture(params=["debug", "local"])
def run_mode(request: pytest.FixtureRequest, home) -> str:
    return str(request.param)


def test_a_function_steps_decorators_run_in_its_process(run_mode: str) -> None:
    pipe = PipelineController(name="wrapped_steps", project="tests")
    pipe.add_function_step(
        name="doubled", function=doubled_step, function_kwargs={"x": 4}, function_return=["y"]
    )
    pipe.add_function_step(name="ten", function=ten_more, function_kwargs={"x": 1}, function_return=["y"])
    pipe.start_locally(run_pipeline_steps_locally=True, in_process=run_mode == "debug")
    assert pipe.is_successful(), [n.error for n in pipe.get_pipeline_dag().values()]
    dag = pipe.get_pipeline_dag()
    assert Task.get_task(task_id=dag["doubled"].executed).artifacts["y"].get() == 10
    assert Task.get_task(task_id=dag["ten"].executed).artifacts["y"].get() == 12
