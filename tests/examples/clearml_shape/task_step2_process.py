"""Step 2 of pipeline_from_tasks.py (ClearML's step2_data_processing.py, in our own code): read the
CSV (from a task's `dataset` artifact or a URL), hold out every k-th row, store the four parts."""

import pandas as pd

from ductwork import StorageManager, Task

task = Task.init(project_name="clearml shape", task_name="Pipeline step 2 process dataset")
args = {
    "dataset_task_id": "",
    "dataset_url": "",
    "test_size": 0.2,
}
task.connect(args)
print(f"Arguments: {args}")
task.execute_remotely()

if args["dataset_task_id"]:
    source = Task.get_task(task_id=args["dataset_task_id"]).artifacts["dataset"].get_local_copy()
elif args["dataset_url"]:
    source = StorageManager.get_local_copy(remote_url=args["dataset_url"])
else:
    raise ValueError("Missing dataset link")
points = pd.read_csv(source)
held_out = points.index % round(1 / float(args["test_size"])) == 0
features = ["x", "y"]
task.upload_artifact("X_train", points.loc[~held_out, features].to_numpy())
task.upload_artifact("X_test", points.loc[held_out, features].to_numpy())
task.upload_artifact("y_train", points.loc[~held_out, "label"].to_numpy())
task.upload_artifact("y_test", points.loc[held_out, "label"].to_numpy())
print("Done")
