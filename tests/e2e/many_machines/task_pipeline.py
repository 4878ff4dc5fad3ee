"""A PipelineController over existing tasks; consecutive steps run on different agents.

    python templates.py SHAPE            # first: the draft tasks this pipeline clones
    python task_pipeline.py local|remote COUNT

Each step clones a template (found by project and name) with overridden parameters and passes
its task id to the next. `make` and `summarize` run on queue `alpha`, `square` between them on
`beta`.
"""

import sys

from ductwork import PipelineController

shape, count = sys.argv[1], int(sys.argv[2])
TEMPLATES = "many machines/templates"

pipe = PipelineController(name=f"tasks {shape}", project="many machines", version="1.0.0")
pipe.add_parameter("count", count)
pipe.add_step(
    name="make",
    base_task_project=TEMPLATES,
    base_task_name=f"make {shape}",
    parameter_override={"General/count": "${pipeline.count}"},
    execution_queue="alpha",
)
pipe.add_step(
    name="square",
    base_task_project=TEMPLATES,
    base_task_name=f"square {shape}",
    parameter_override={"General/source": "${make.id}"},
    execution_queue="beta",
)
pipe.add_step(
    name="summarize",
    base_task_project=TEMPLATES,
    base_task_name=f"summarize {shape}",
    parameter_override={"General/source": "${square.id}", "General/label": f"tasks {shape}"},
    execution_queue="alpha",
)
if shape == "remote":
    pipe.start(queue="services")
else:
    pipe.start_locally()
    print("succeeded" if pipe.is_successful() else "failed")
