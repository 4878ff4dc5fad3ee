"""A script task: sums up the `squares` and `total` of task `source` (artifact `summary`)."""

from ductwork import Task

task = Task.init(project_name="many machines/templates", task_name="summarize")
args = task.connect({"source": "", "label": ""})
source = Task.get_task(task_id=args["source"])
squares = source.artifacts["squares"].get()
total = source.artifacts["total"].get()
summary = {
    "label": args["label"],
    "sum_of_squares": float(squares.sum()),
    "total": total,
    "count": int(squares.size),
}
task.upload_artifact("summary", summary)
