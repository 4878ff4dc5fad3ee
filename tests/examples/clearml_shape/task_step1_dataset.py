"""Step 1 of pipeline_from_tasks.py (ClearML's step1_dataset_artifact.py, in our own code): fetch
the points CSV from `dataset_url` and store it as the artifact `dataset`. Run once by hand,
it registers itself as a draft template and stops at `execute_remotely()`."""

from ductwork import StorageManager, Task

task = Task.init(project_name="clearml shape", task_name="Pipeline step 1 dataset artifact")
args = task.connect({"dataset_url": ""})
task.execute_remotely()

local_csv = StorageManager.get_local_copy(remote_url=args["dataset_url"])
task.upload_artifact("dataset", artifact_object=local_csv)
print("Done")
