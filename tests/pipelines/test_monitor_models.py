"""`monitor_models=[("model", "renamed")]`: the pipeline shows the step's model under the new name
(issue 13, item 10), as ClearML's `monitor_models` pairs say."""

from __future__ import annotations

from tests.pipelines.conftest import backend
from tests.pipelines.test_controller import produce_metrics

from ductwork import PipelineController


def test_a_monitored_model_is_renamed_on_the_pipeline(home) -> None:
    pipe = PipelineController(name="renames", project="tests")
    renames, given = [("model_best", "renamed")], {"n": 1}
    step = produce_metrics
    pipe.add_function_step(name="train", function=step, function_kwargs=given, monitor_models=renames)
    pipe.start_locally(run_pipeline_steps_locally=True)
    assert pipe.is_successful()
    assert [(link.role, link.name) for link in backend().get_task_models(pipe.id)] == [("output", "renamed")]
