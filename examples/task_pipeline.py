"""A PipelineController over existing tasks: the two scripts in tasks/ become templates, and
the pipeline clones them with overridden parameters (one step feeds the other its task id).

    python examples/task_pipeline.py [local|remote]
"""

import os
import sys

from ductwork import PipelineController, Task

HERE = os.path.dirname(os.path.abspath(__file__))


def templates() -> tuple[str, str]:
    prepare = Task.create(
        project_name="examples/tasks", task_name="prepare", script=os.path.join(HERE, "tasks", "prepare.py")
    )
    count = Task.create(
        project_name="examples/tasks", task_name="count", script=os.path.join(HERE, "tasks", "count.py")
    )
    return prepare.id, count.id


def build() -> PipelineController:
    prepare_id, _ = templates()
    pipe = PipelineController(name="from tasks", project="examples", version="1.0.0")
    pipe.add_parameter("rows", 25)
    pipe.set_default_execution_queue("default")
    pipe.add_step(
        name="prepare",
        base_task_id=prepare_id,
        parameter_override={"General/rows": "${pipeline.rows}", "General/prefix": "item"},
    )
    pipe.add_step(
        name="count",
        base_task_project="examples/tasks",
        base_task_name="count",
        parameter_override={"General/source_task": "${prepare.id}", "General/minimum": 5},
        monitor_artifacts=["count"],
    )
    return pipe


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "local"
    pipe = build()
    if mode == "remote":
        pipe.start(queue="services")
    else:
        pipe.start_locally(run_pipeline_steps_locally=True)
        print("succeeded" if pipe.is_successful() else "failed", pipe.id)
