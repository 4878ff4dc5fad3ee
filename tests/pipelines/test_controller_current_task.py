"""After `PipelineController(...)` the main script's current task is the pipeline's (issue 13, item 9).

ClearML's constructor runs `Task.init` for the controller, so `Task.current_task()` and
`PipelineController.get_logger()` work from the main script."""

from __future__ import annotations

from tests.pipelines.conftest import backend

from ductwork import PipelineController, Task


def add_one(x: int):
    return x + 1


def test_the_controller_is_the_main_scripts_current_task(home) -> None:
    pipe = PipelineController(name="current", project="tests")
    found = Task.current_task()
    assert found is not None and found.id == pipe.id
    PipelineController.get_logger().report_text("reported from the main script")
    pipe.add_function_step(name="step", function=add_one, function_kwargs={"x": 1}, function_return=["y"])
    pipe.start_locally(run_pipeline_steps_locally=True)
    assert pipe.is_successful()
    console = "\n".join(line.text for line in backend().get_console(pipe.id))
    assert "reported from the main script" in console
    assert Task.current_task() is None  # the run ended here: the script has no task again
    other = PipelineController(name="other", project="tests")
    assert backend().get_task(other.id).parent is None  # not a child of the first run


def test_a_script_with_its_own_task_keeps_it(home) -> None:
    own = Task.init(project_name="tests", task_name="script")
    try:
        pipe = PipelineController(name="inside", project="tests")
        assert Task.current_task() is own
        assert backend().get_task(pipe.id).parent == own.id
    finally:
        own.close()
