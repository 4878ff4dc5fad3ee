"""ClearML's examples/pipeline/pipeline_from_tasks.py, in our own code: three steps cloned from
the draft templates task_step{1,2,3}_*.py registered (run those first), with parameter
overrides referencing a pipeline parameter, an artifact's URL and a step's task id, and pre-
and post-execute callbacks; the last callback prints the trained model's accuracy.

    python task_step1_dataset.py; python task_step2_process.py; python task_step3_train.py
    python pipeline_from_tasks.py debug|local|remote DATA_URL [by-id]

`by-id`: step 2 gets step 1's task id (`dataset_task_id`, which step 2 also takes) instead of
the URL of its artifact.
"""

import sys

from ductwork import Task
from ductwork.automation import PipelineController


def pre_execute_callback_example(a_pipeline, a_node, current_param_override):
    print(f"Cloning Task id={a_node.base_task_id} with parameters: {current_param_override}")
    return True


def post_execute_callback_example(a_pipeline, a_node):
    print(f"Completed Task id={a_node.executed}")


def print_accuracy(a_pipeline, a_node):
    accuracy = Task.get_task(task_id=a_node.executed).artifacts["accuracy"].get()
    print(f"accuracy={accuracy:.4f}")


mode, data_url, how = sys.argv[1], sys.argv[2], sys.argv[3:]
if how == ["by-id"]:
    dataset = {"General/dataset_task_id": "${stage_data.id}"}
else:
    dataset = {"General/dataset_url": "${stage_data.artifacts.dataset.url}"}
pipe = PipelineController(
    name=" ".join(["tasks", mode, *how]),
    project="clearml shape",
    version="0.0.1",
    add_pipeline_tags=False,
)
pipe.add_parameter("url", data_url, "dataset_url")
pipe.set_default_execution_queue("alpha")
pipe.add_step(
    name="stage_data",
    base_task_project="clearml shape",
    base_task_name="Pipeline step 1 dataset artifact",
    parameter_override={"General/dataset_url": "${pipeline.url}"},
)
pipe.add_step(
    name="stage_process",
    parents=["stage_data"],
    base_task_project="clearml shape",
    base_task_name="Pipeline step 2 process dataset",
    parameter_override={**dataset, "General/test_size": 0.25},
    pre_execute_callback=pre_execute_callback_example,
    post_execute_callback=post_execute_callback_example,
    execution_queue="beta",
)
pipe.add_step(
    name="stage_train",
    parents=["stage_process"],
    base_task_project="clearml shape",
    base_task_name="Pipeline step 3 train model",
    parameter_override={"General/dataset_task_id": "${stage_process.id}"},
    post_execute_callback=print_accuracy,
)
if mode == "debug":
    pipe.start_locally(in_process=True)
elif mode == "local":
    pipe.start_locally(run_pipeline_steps_locally=True)
else:
    pipe.start(queue="services")
print("done")
