"""A script task: `count` numbers from 3 on, as a numpy array (artifact `values`)."""

import numpy as np

from ductwork import Task

task = Task.init(project_name="many machines/templates", task_name="make")
args = task.connect({"count": 1})
task.upload_artifact("values", np.arange(int(args["count"]), dtype=float) + 3.0)
