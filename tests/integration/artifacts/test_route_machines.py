"""One route for every stored object, across machines that share nothing but the server.

The server keeps its artifacts in its own home, which no other machine sees (each process runs
in its own mount namespace: `tests/machines.py`). A pipeline's controller runs on a laptop, its
two steps on two agents (`python -m ductwork.sdk.runner` started by each agent, each with its
own home), and a reader on a fourth machine reads everything back. Every stored object goes
through the server: the pipeline's own argument artifact, the step returns (written with the
pipeline's custom serializer, which travels inside the step's code), a step's artifact and
model, and the copies the pipeline's task keeps of them (`monitor_artifacts`/`monitor_models`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import route_codec
from route_codec import HEADER

pytestmark = pytest.mark.slow  # a server, agents and clients, each a process of its own

# The scripts below start with the serializer pair's own module text.
CODEC = Path(route_codec.__file__).read_text()

PIPELINE = (
    CODEC
    + """

def make(n, extra):
    import os
    import tempfile

    import numpy as np

    from ductwork import OutputModel, Task

    task = Task.current_task()
    weights = os.path.join(tempfile.mkdtemp(), "weights.bin")
    with open(weights, "wb") as handle:
        handle.write(b"W" * 5000)
    OutputModel(task=task, name="weights-model").update_weights(weights)
    task.upload_artifact("table", np.arange(2000), wait_on_upload=True)
    return {"numbers": list(range(n)), "extra": extra}


def total(payload):
    return sum(payload["numbers"]), sorted(payload["extra"])


if __name__ == "__main__":
    from ductwork import PipelineController

    pipe = PipelineController(
        name="route",
        project="machines",
        artifact_serialization_function=with_header,
        artifact_deserialization_function=without_header,
    )
    pipe.add_function_step(
        "make",
        make,
        function_kwargs={"n": 5, "extra": {"left", "right"}},
        function_return=["payload"],
        execution_queue="first",
        monitor_artifacts=[("table", "step_table")],
        monitor_models=["weights-model"],
    )
    pipe.add_function_step(
        "total",
        total,
        function_kwargs={"payload": "${make.payload}"},
        function_return=["sum", "extra"],
        execution_queue="second",
    )
    pipe.start_locally()
    assert pipe.is_successful(), "the pipeline failed"
    print(pipe.id)
"""
)

READER = (
    CODEC
    + """

import json
import sys

from ductwork import Task

run = Task.get_task(sys.argv[1])
total = Task.get_task(sys.argv[2])
sum_artifact = total.artifacts["sum"]
with open(sum_artifact.get_local_copy(raise_on_error=True), "rb") as handle:
    stored = handle.read()
model = run.models["output"][0]
with open(model.get_local_copy(raise_on_error=True), "rb") as handle:
    weights = handle.read()
print(json.dumps({
    "sum": sum_artifact.get(deserialization_function=without_header),
    "extra": total.artifacts["extra"].get(deserialization_function=without_header),
    "sum_header": stored[: len(HEADER)].decode(),
    "table": run.artifacts["step_table"].get().tolist()[-3:],
    "model": model.name,
    "weights": [len(weights), weights[:3].decode()],
}))
"""
)


def test_a_pipeline_whose_machines_share_only_the_server(machines: Any) -> None:
    server = machines.server()
    first = machines.agent("agent-1", queues=["first"])
    second = machines.agent("agent-2", queues=["second"])
    laptop = machines.client("laptop")

    run_id = laptop.run(PIPELINE).strip().splitlines()[-1]

    api = server.api
    steps = server.steps(run_id)
    assert {name: task.status for name, task in steps.items()} == {"make": "completed", "total": "completed"}
    root = _artifact_root(server)
    # Every stored object is on the server's machine: none in a home the others cannot see.
    stored = {
        "argument": _artifact(api, run_id, "make.extra"),
        "payload": _artifact(api, steps["make"].id, "payload"),
        "sum": _artifact(api, steps["total"].id, "sum"),
        "table": _artifact(api, steps["make"].id, "table"),
        "monitored table": _artifact(api, run_id, "step_table"),
    }
    for what, record in stored.items():
        assert record.uri.startswith(root), f"{what} stored at {record.uri}, not under {root}"
    # The pipeline's serializer wrote the argument and every return value, on every machine.
    for what in ("argument", "payload", "sum"):
        assert stored[what].type == "custom", what
        assert Path(stored[what].uri).read_bytes().startswith(HEADER), what
    assert stored["monitored table"].hash == stored["table"].hash
    model = api.get_model(api.get_task_models(run_id)[0].model_id)
    assert model.uri.startswith(root) and model.name == "weights-model"
    # Nothing was left in the agents' own artifact storage.
    for agent in (first, second, laptop):
        assert not list((agent.home / "artifacts").rglob("*.bin")), agent.name

    reader = machines.client("reader")
    seen = json.loads(reader.run(READER, run_id, steps["total"].id).strip().splitlines()[-1])
    assert seen == {
        "sum": 10,
        "extra": ["left", "right"],
        "sum_header": HEADER.decode(),
        "table": [1997, 1998, 1999],
        "model": "weights-model",
        "weights": [5000, "WWW"],
    }
    # The reader went through the server: its bytes are in its own hash-checked cache.
    assert list((reader.home / "cache" / "server").iterdir())


DECORATED = (
    CODEC
    + """

from ductwork import PipelineDecorator


@PipelineDecorator.component(return_values=["values"])
def make(n):
    import numpy as np

    return np.arange(n)


@PipelineDecorator.component(return_values=["total"])
def total(values):
    return int(values.sum())


@PipelineDecorator.pipeline(
    name="local-route",
    project="machines",
    artifact_serialization_function=with_header,
    artifact_deserialization_function=without_header,
)
def pipeline(n: int):
    return total(make(n))


if __name__ == "__main__":
    PipelineDecorator.run_locally()
    print(pipeline(3000))
"""
)

READ_TOTAL = (
    CODEC
    + """

import sys

from ductwork import Task

print(Task.get_task(sys.argv[1]).artifacts["total"].get(deserialization_function=without_header))
"""
)


def test_local_step_processes_store_through_the_server_they_cannot_reach(machines: Any) -> None:
    """Local mode against a server: the step processes' pipe to their controller carries no
    bytes, so they stream them to the server themselves."""
    server = machines.server()
    laptop = machines.client("laptop")

    assert laptop.run(DECORATED).strip().splitlines()[-1] == str(sum(range(3000)))

    run = server.controller("local-route")
    steps = server.steps(run.id)
    root = _artifact_root(server)
    for task, name in ((steps["make"], "values"), (steps["total"], "total")):
        record = _artifact(server.api, task.id, name)
        assert record.uri.startswith(root), record.uri
        assert Path(record.uri).read_bytes().startswith(HEADER), name
    assert not list((laptop.home / "artifacts").rglob("*.bin"))
    reader = machines.client("reader")
    assert reader.run(READ_TOTAL, steps["total"].id).strip() == str(sum(range(3000)))


REMOTE = (
    CODEC
    + """

from ductwork import PipelineDecorator


@PipelineDecorator.component(return_values=["values"])
def make(n):
    return {"n": n, "kind": {"a", "b"}}


@PipelineDecorator.component(return_values=["total"])
def total(values):
    return values["n"] + len(values["kind"])


@PipelineDecorator.pipeline(
    name="remote-route",
    project="machines",
    artifact_serialization_function=with_header,
    artifact_deserialization_function=without_header,
    return_value="result",
)
def pipeline(n: int):
    return total(make(n))


if __name__ == "__main__":
    PipelineDecorator.set_default_execution_queue("default")
    pipeline(40)
"""
)

READ_RESULT = """
import sys

from ductwork import Task

print(Task.get_task(sys.argv[1]).artifacts["result"].get())
"""


def test_a_remote_controller_reads_its_steps_with_the_deserializer(machines: Any) -> None:
    """Fully remote: the controller on a services agent loads each step's value (written by
    another agent with the pipeline's serializer) with the pipeline's deserializer."""
    server = machines.server()
    machines.agent("services", queues=["services"], services=2)
    machines.agent("worker", queues=["default"])
    machines.client("laptop").run(REMOTE)

    run = server.controller("remote-route")
    final = server.wait_final(run.id)
    assert final.status == "completed", "\n".join(line.text for line in server.api.get_console(run.id))
    record = _artifact(server.api, server.steps(run.id)["total"].id, "total")
    assert Path(record.uri).read_bytes().startswith(HEADER)
    assert machines.client("reader").run(READ_RESULT, run.id).strip() == "42"


def _artifact_root(server: Any) -> str:
    root = str(server.api.storage()["artifacts_root"])
    assert root.startswith(str(server.machine.root)), root
    return root


def _artifact(api: Any, task_id: str, name: str) -> Any:
    found = [record for record in api.get_artifacts(task_id) if record.name == name]
    assert found, f"task {task_id} has no artifact {name!r}: {[a.name for a in api.get_artifacts(task_id)]}"
    return found[0]
