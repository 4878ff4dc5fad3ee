"""`PipelineController.create`: a run made from a script that is not running here, as a draft an
agent runs when it is enqueued (on the embedded store, with a real agent)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.pipelines.conftest import wait_final

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


def test_a_created_controller_is_a_draft_run_an_agent_runs(agent: dict[str, str], tmp_path: Path) -> None:
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
