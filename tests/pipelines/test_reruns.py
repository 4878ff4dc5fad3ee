"""Reruns through a real agent on the embedded store: a clone built from the stored DAG
(`always_create_from_code=False`, with an edit to it), and a failed run resumed on agents."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.pipelines.conftest import wait_final

SCRIPT = """
import os
from ductwork import PipelineController

def scale(x, factor):
    import os
    gate = os.environ.get("GATE_FILE")
    if gate and not os.path.exists(gate):
        raise RuntimeError("the gate is closed")
    return x * factor

pipe = PipelineController(name="stored", project="reruns", always_create_from_code=False)
pipe.add_parameter("x", 3)
pipe.set_default_execution_queue("default")
pipe.add_function_step(
    "scale", scale, function_kwargs={"x": "${pipeline.x}", "factor": 2}, function_return=["y"]
)
pipe.start(queue="services")
"""


def result_of(store, run_id: str):  # type: ignore[no-untyped-def]
    from ductwork.pipelines.runner import load_output

    node = {n.name: n for n in store.get_nodes(run_id)}["scale"]
    return node, load_output(store, f"{node.task_id}.y")


def test_clone_uses_the_edited_stored_dag_and_resume_runs_on_agents(
    agent: dict[str, str], ductwork_home: Path, tmp_path: Path
) -> None:
    import json

    from ductwork import PipelineController, client
    from ductwork.core.queries import TaskQuery
    from ductwork.core.records import ConfigObject

    script = tmp_path / "stored.py"
    script.write_text(textwrap.dedent(SCRIPT))
    (tmp_path / "gate").touch()
    done = subprocess.run(
        [sys.executable, str(script)], env=agent, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    store = client.backend()
    first = store.query_tasks(TaskQuery(type=["controller"]))[0]
    assert wait_final(store, first.id).status == "completed"
    assert result_of(store, first.id)[1] == 6

    # edit the stored DAG of a clone: always_create_from_code=False makes the edit win over the code
    clone = PipelineController.clone(first.id)
    dag = json.loads(store.get_configurations(clone.id)["Pipeline"].text)
    dag["scale"]["parameters"]["kwargs/factor"] = 5
    store.set_configuration(clone.id, "Pipeline", ConfigObject(json.dumps(dag), "json"))
    PipelineController.enqueue(clone, queue_name="services")
    assert wait_final(store, clone.id).status == "completed"
    assert result_of(store, clone.id)[1] == 15

    # a run whose step fails, resumed with its steps on the agent
    (tmp_path / "gate").unlink()
    failing = PipelineController.clone(first.id)
    PipelineController.enqueue(failing, queue_name="services")
    assert wait_final(store, failing.id).status == "failed"
    (tmp_path / "gate").touch()
    resumed = PipelineController.resume(failing.id, run_pipeline_steps_locally=False)
    assert resumed.is_successful()
    node, value = result_of(store, failing.id)
    assert value == 6 and node.attempt == 0 and store.get_task(node.task_id).worker


LOCAL_CONTROLLER = """
from ductwork import PipelineDecorator

@PipelineDecorator.component(return_values=["y"], execution_queue="default")
def double(x):
    return {"y": 2 * x}

@PipelineDecorator.pipeline(name="here", project="reruns", pipeline_execution_queue=None)
def here(x: int = 4):
    return double(x)["y"] + double(x + 1)["y"]

print("RESULT", here(x=4))
"""


def test_decorator_controller_here_steps_on_agents(agent: dict[str, str], tmp_path: Path) -> None:
    from ductwork import client
    from ductwork.core.queries import TaskQuery

    script = tmp_path / "here.py"
    script.write_text(textwrap.dedent(LOCAL_CONTROLLER))
    done = subprocess.run(
        [sys.executable, str(script)], env=agent, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "RESULT 18" in done.stdout
    store = client.backend()
    run = store.query_tasks(TaskQuery(type=["controller"]))[0]
    steps = store.query_tasks(TaskQuery(parent=run.id))
    assert len(steps) == 2 and all(s.worker for s in steps)  # each was claimed by the agent
    assert all(s.queue == "default" for s in steps)
