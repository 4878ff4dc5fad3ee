"""A plain script task: counts what the prepare task produced (its id comes as a parameter)."""

from ductwork import Task

task = Task.init(project_name="examples/tasks", task_name="count")
args = task.connect({"source_task": "", "minimum": 1})
lines = Task.get_task(task_id=args["source_task"]).artifacts["lines"].get()
count = len(lines)
task.get_logger().report_single_value("lines", count)
task.upload_artifact("count", count)
if count < int(args["minimum"]):
    raise SystemExit(f"only {count} lines, fewer than {args['minimum']}")
print(f"counted {count} lines")
