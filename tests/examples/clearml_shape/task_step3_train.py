"""Step 3 of pipeline_from_tasks.py (ClearML's step3_train_model.py, in our own code): fit a
nearest-centroid model on step 2's arrays, store it and its held-out accuracy."""

import numpy as np

from ductwork import Task

task = Task.init(project_name="clearml shape", task_name="Pipeline step 3 train model")
args = {"dataset_task_id": "REPLACE_WITH_DATASET_TASK_ID"}
task.connect(args)
task.execute_remotely()

dataset_task = Task.get_task(task_id=args["dataset_task_id"])
x_train = dataset_task.artifacts["X_train"].get()
x_test = dataset_task.artifacts["X_test"].get()
y_train = dataset_task.artifacts["y_train"].get()
y_test = dataset_task.artifacts["y_test"].get()

labels = np.unique(y_train)
centres = np.array([x_train[y_train == label].mean(axis=0) for label in labels])
task.upload_artifact("model", {"labels": labels, "centres": centres})
predicted = labels[((x_test[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)]
accuracy = float((predicted == y_test).mean())
task.upload_artifact("accuracy", accuracy)
print(f"accuracy={accuracy:.4f}")
