"""`PipelineController.create`: a run made from a script that is not running here, as a draft an
agent runs when it is enqueued (on the embedded store, with a real agent)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPT = """
from ductwork import PipelineController

def double(x):
    return 2 * x

pipe = PipelineController(name="made", project="created")
pipe.add_parameter("x", 4)
pipe.set_default_execution_queue("default")
pipe.add_function_step("double", double, function_kwargs={"x": "${pipeline.x}"}, function_return=["y"])
pipe.start(queue="services")
"""


@pytest.fixture
def agent(ductwork_home: Path) -> Iterator[None]:
    env = {**os.environ, "DUCTWORK_HOME": str(ductwork_home)}
    command = [sys.executable, "-m", "ductwork", "agent", "--queue", "services", "--queue", "default"]
    process = subprocess.Popen([*command, "--same-env", "--services-mode", "2"], env=env)
    yield
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()


def wait_final(backend, task_id: str, seconds: float = 90):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        record = backend.get_task(task_id)
        if record.status in ("completed", "failed", "stopped"):
            return record
        time.sleep(0.2)
    raise AssertionError(f"task {task_id} is still {backend.get_task(task_id).status}")


def test_a_created_controller_is_a_draft_run_an_agent_runs(agent: None, tmp_path: Path) -> None:
    from ductwork import PipelineController, client
    from ductwork.pipelines.runner import load_output

    script = tmp_path / "made.py"
    script.write_text(SCRIPT)
    pipe = PipelineController.create(
        project_name="created", task_name="made", script=str(script), version="2.1.0"
    )
    backend = client.backend()
    record = backend.get_task(pipe.id)
    assert (record.status, record.type, record.name) == ("created", "controller", "made")
    assert "pipeline" in record.system_tags
    assert backend.get_project(record.project).name == "created/.pipelines/made"
    assert pipe.version == "2.1.0"
    again = PipelineController.create(project_name="created", task_name="made", script=str(script))
    assert backend.get_task(again.id).name == "made #2" and again.version == "1.0.0"
    found = PipelineController.get(pipeline_project="created", pipeline_name="made", pipeline_version="2.1.0")
    assert found.id == pipe.id

    PipelineController.enqueue(pipe, queue_name="services")
    done = wait_final(backend, pipe.id)
    assert done.status == "completed", done.status_message
    [node] = backend.get_nodes(pipe.id)
    assert load_output(backend, f"{node.task_id}.y") == 8
    assert backend.get_task(pipe.id).runtime["version"] == "2.1.0"  # the draft's, not the script's default


def test_create_names_what_is_wrong(ductwork_home: Path, tmp_path: Path) -> None:
    from ductwork import PipelineController
    from ductwork.core.errors import ValidationError

    script = tmp_path / "made.py"
    script.write_text(SCRIPT)
    with pytest.raises(ValidationError, match="version 'one' is not a version"):
        PipelineController.create(project_name="created", task_name="made", script=str(script), version="one")
    with pytest.raises(ValidationError, match="task_name must be a non-empty str"):
        PipelineController.create(project_name="created", task_name="", script=str(script))
