"""Make the three scripts in tasks/ (next to this one, on this machine only) draft tasks, the
templates task_pipeline.py clones: `python templates.py SUFFIX` names them `make SUFFIX`..."""

import os
import sys

from ductwork import Task

HERE = os.path.dirname(os.path.abspath(__file__))

for name in ("make", "square", "summarize"):
    template = Task.create(
        project_name="many machines/templates",
        task_name=f"{name} {sys.argv[1]}",
        script=os.path.join(HERE, "tasks", f"{name}.py"),
    )
    print(name, template.id)
