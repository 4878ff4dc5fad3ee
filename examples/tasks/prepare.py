"""A plain script task: writes a data file. Its arguments are overridden by the pipeline."""

from ductwork import Task

task = Task.init(project_name="examples/tasks", task_name="prepare")
args = task.connect({"rows": 100, "prefix": "row"})
lines = [f"{args['prefix']}-{i}" for i in range(int(args["rows"]))]
task.upload_artifact("lines", lines)
print(f"wrote {len(lines)} lines")
