"""A pipeline's artifact_serialization_function / artifact_deserialization_function on both
sides: step returns and the pipeline's own argument artifacts are written with the first (a
recognisable header in the stored bytes), every stored value a step or the controller reads is
loaded with the second, in debug mode, in local step processes and on a cache hit. The functions
travel inside each step's generated code, where a step process finds them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.pipelines.conftest import backend

from ductwork import PipelineController, PipelineDecorator
from ductwork.core.errors import ValidationError
from ductwork.core.queries import TaskQuery
from route_codec import HEADER, with_header, without_header


@PipelineDecorator.component(return_values=["payload"], cache=True)
def make(n, extra):
    return {"numbers": list(range(n)), "extra": extra}


@PipelineDecorator.component(return_values=["total"])
def add_up(payload):
    return sum(payload["numbers"]) + len(payload["extra"])


@PipelineDecorator.pipeline(
    name="codec",
    project="tests",
    artifact_serialization_function=with_header,
    artifact_deserialization_function=without_header,
)
def codec_pipeline(n: int = 4):
    payload = make(n, {"left", "right"})  # a set: not JSON, so stored as the run's artifact
    return add_up(payload)


def _stored(task_id: str, name: str) -> Any:
    found = [a for a in backend().get_artifacts(task_id) if a.name == name]
    assert found, f"task {task_id} has no artifact {name!r}"
    return found[0]


def _steps(run_id: str) -> dict[str, Any]:
    return {t.name: t for t in backend().query_tasks(TaskQuery(parent=run_id, archived=None))}


def test_a_decorator_pipeline_writes_and_reads_with_its_functions(mode: str) -> None:
    assert codec_pipeline(n=4) == 6 + 2
    run = backend().query_tasks(TaskQuery(type=["controller"]))[0]
    steps = _steps(run.id)
    for task_id, name in (
        (run.id, "make.extra"),
        (steps["make"].id, "payload"),
        (steps["add_up"].id, "total"),
    ):
        record = _stored(task_id, name)
        assert record.type == "custom", name
        assert Path(record.uri).read_bytes().startswith(HEADER), name
    # The step tasks carry the functions in their code, bound to the names the runner reads.
    code = steps["make"].script["code"]
    assert "artifact_serialization_function = with_header" in code
    assert "artifact_deserialization_function = without_header" in code

    # A cached step's result is read back (with the deserializer) by the next run.
    assert codec_pipeline(n=4) == 8
    newest = backend().query_tasks(TaskQuery(type=["controller"], order_by="-created"))[0]
    states = {state.name: state.status for state in backend().get_nodes(newest.id)}
    assert states["make"] == "cached"


def make_numbers(n):
    return list(range(n))


def count(numbers, extra):
    return len(numbers) + len(extra)


def test_a_controller_with_step_processes_applies_both_functions(home: Path) -> None:
    pipe = PipelineController(
        name="codec-controller",
        project="tests",
        artifact_serialization_function=with_header,
        artifact_deserialization_function=without_header,
    )
    pipe.add_function_step("numbers", make_numbers, function_kwargs={"n": 3}, function_return=["numbers"])
    pipe.add_function_step(
        "count",
        count,
        function_kwargs={"numbers": "${numbers.numbers}", "extra": frozenset({1, 2})},
        function_return=["count"],
    )
    pipe.start_locally(run_pipeline_steps_locally=True)
    assert pipe.is_successful()
    steps = _steps(pipe.id)
    record = _stored(steps["count"].id, "count")
    assert Path(record.uri).read_bytes() == with_header(5)
    assert Path(_stored(pipe.id, "count.extra").uri).read_bytes().startswith(HEADER)


def test_a_serializer_that_cannot_travel_is_refused_before_the_run(home: Path) -> None:
    namespace: dict[str, Any] = {}
    exec("def typed_in(value):\n    return repr(value).encode()\n", namespace)  # no file to read
    pipe = PipelineController(
        name="codec-typed-in", project="tests", artifact_serialization_function=namespace["typed_in"]
    )
    pipe.add_function_step("numbers", make_numbers, function_kwargs={"n": 3}, function_return=["numbers"])
    with pytest.raises(ValidationError, match="artifact_serialization_function"):
        pipe.start_locally(run_pipeline_steps_locally=True)
