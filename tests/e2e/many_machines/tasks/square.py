"""A script task: squares the `values` of task `source` (artifacts `squares` and `total`)."""

from ductwork import Task

task = Task.init(project_name="many machines/templates", task_name="square")
args = task.connect({"source": ""})
values = Task.get_task(task_id=args["source"]).artifacts["values"].get()
task.upload_artifact("squares", values * values)
task.upload_artifact("total", float(values.sum()))
