"""A cached step is reused only when its configuration is unchanged (issue 13, item 2).

ClearML's cache key covers everything logged to the task's Configuration section: a step whose
`configuration_overrides`, or whose base task's own configuration, changed runs again."""

from __future__ import annotations

import textwrap
from pathlib import Path

from ductwork import PipelineController, Task

SCRIPT = """
from ductwork import Task
task = Task.init(project_name="tests", task_name="configured")
settings = task.get_configuration_object_as_dict("settings") or {}
task.upload_artifact("n", settings.get("n"))
"""


def template(tmp_path: Path) -> Task:
    path = tmp_path / "configured.py"
    path.write_text(textwrap.dedent(SCRIPT))
    task = Task.create(project_name="tests", task_name="configured", script=str(path))
    task.set_configuration_object("settings", config_dict={"n": 0})
    return task


def run(base: Task, overrides: dict[str, object] | None) -> tuple[str, object, str]:
    """One run of a one-step pipeline: the step's status, its result and its cache note."""
    pipe = PipelineController(name="configured", project="tests")
    pipe.add_step(
        name="step",
        base_task_id=base.id,
        configuration_overrides=overrides,
        cache_executed_step=True,
    )
    pipe.start_locally(run_pipeline_steps_locally=True)
    node = pipe.get_pipeline_dag()["step"]
    assert pipe.is_successful(), node.error
    result = Task.get_task(task_id=node.executed).artifacts["n"].get()
    return node.status, result, node.cache_note or ""


def test_changed_configuration_overrides_miss_the_cache(home, tmp_path) -> None:
    base = template(tmp_path)
    assert run(base, {"settings": {"n": 1}})[:2] == ("completed", 1)
    assert run(base, {"settings": {"n": 1}})[:2] == ("cached", 1)
    status, result, note = run(base, {"settings": {"n": 2}})
    assert (status, result) == ("completed", 2)
    assert "configuration 'settings' changed" in note


def test_a_changed_base_task_configuration_misses_the_cache(home, tmp_path) -> None:
    base = template(tmp_path)
    assert run(base, None)[:2] == ("completed", 0)
    assert run(base, None)[:2] == ("cached", 0)
    base.set_configuration_object("settings", config_dict={"n": 5})
    status, result, note = run(base, None)
    assert (status, result) == ("completed", 5)
    assert "configuration 'settings' changed" in note


def test_a_changed_base_task_parameter_misses_the_cache(home, tmp_path) -> None:
    base = template(tmp_path)
    base.set_parameters({"General/extra": 1})
    assert run(base, None)[0] == "completed"
    assert run(base, None)[0] == "cached"
    base.set_parameters({"General/extra": 2})
    status, _, note = run(base, None)
    assert status == "completed"
    assert "General/extra" in note
