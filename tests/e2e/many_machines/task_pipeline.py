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
for name, queue, overrides in (
    ("make", "alpha", {"General/count": "${pipeline.count}"}),
    ("square", "beta", {"General/source": "${make.id}"}),
    ("summarize", "alpha", {"General/source": "${square.id}", "General/label": f"tasks {shape}"}),
):
    pipe.add_step(
        name=name,
        base_task_project=TEMPLATES,
        base_task_name=f"{name} {shape}",
        parameter_override=overrides,
        execution_queue=queue,
    )
if shape == "remote":
    pipe.start(queue="services")
else:
    pipe.start_locally()
    print("succeeded" if pipe.is_successful() else "failed")
