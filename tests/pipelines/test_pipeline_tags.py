"""`add_pipeline_tags=True` tags every step's task, a step from an existing task too (issue 13,
item 10)."""

from __future__ import annotations

from tests.pipelines.conftest import backend
from tests.pipelines.test_cache_configuration import template

from ductwork import PipelineController


def add_one(x: int):
    return x + 1


def test_steps_from_tasks_get_the_pipeline_tags_too(home, tmp_path) -> None:
    base = template(tmp_path)
    pipe = PipelineController(name="tagged", project="tests", add_pipeline_tags=True)
    pipe.add_step(name="from_task", base_task_id=base.id)
    pipe.add_function_step(name="function", function=add_one, function_kwargs={"x": 1}, function_return=["y"])
    pipe.start_locally(run_pipeline_steps_locally=True)
    assert pipe.is_successful()
    dag = pipe.get_pipeline_dag()
    tags = {name: set(backend().get_task(str(node.executed)).tags) for name, node in dag.items()}
    assert tags["function"] and tags["function"] <= tags["from_task"]
    assert not set(backend().get_task(base.id).tags) & tags["function"]  # the template is left alone
