"""ClearML's examples/pipeline/pipeline_from_decorator.py, in our own code: four cached
components with task types (load a CSV from a URL, split it into four named returns, fit a
nearest-centroid model, score it) called from the pipeline function, which prints the accuracy.

    python pipeline_from_decorator.py debug|local|remote DATA_URL
"""

import sys

from ductwork import TaskTypes
from ductwork.automation.controller import PipelineDecorator


@PipelineDecorator.component(return_values=["points"], cache=True, task_type=TaskTypes.data_processing)
def load_points(data_url: str, extra: int = 43):
    import threading

    print(f"load_points on {threading.current_thread().name}")
    import pandas as pd

    from ductwork import StorageManager

    return pd.read_csv(StorageManager.get_local_copy(remote_url=data_url))


@PipelineDecorator.component(
    return_values=["x_train", "x_test", "y_train", "y_test"],
    cache=True,
    task_type=TaskTypes.data_processing,
    execution_queue="beta",
)
def split_points(points, test_size=0.25):
    print("split_points")
    every = round(1 / test_size)  # every k-th row held out: recomputable from the file
    held_out = points.index % every == 0
    features = ["x", "y"]
    return (
        points.loc[~held_out, features],
        points.loc[held_out, features],
        points.loc[~held_out, "label"],
        points.loc[held_out, "label"],
    )


@PipelineDecorator.component(return_values=["model"], cache=True, task_type=TaskTypes.training)
def fit_centroids(x_train, y_train):
    print("fit_centroids")
    return {int(label): rows.mean().tolist() for label, rows in x_train.groupby(y_train)}


@PipelineDecorator.component(return_values=["accuracy"], cache=True, task_type=TaskTypes.qc)
def score(model, x_data, y_data):
    import numpy as np

    labels = sorted(model)
    centres = np.array([model[label] for label in labels])
    distances = ((x_data.to_numpy()[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    predicted = np.array(labels)[distances.argmin(axis=1)]
    return float((predicted == y_data.to_numpy()).mean())


MODE, DATA_URL = sys.argv[1], sys.argv[2]


@PipelineDecorator.pipeline(name=f"decorator {MODE}", project="clearml shape", version="0.0.5")
def executing_pipeline(data_url, mock_parameter="mock"):
    print("pipeline args:", data_url, mock_parameter)
    points = load_points(data_url)
    x_train, x_test, y_train, y_test = split_points(points)
    model = fit_centroids(x_train, y_train)
    print(f"returned model: {model}")
    accuracy = score(model, x_data=x_test, y_data=y_test)
    print(f"accuracy={accuracy:.4f}")


if __name__ == "__main__":
    PipelineDecorator.set_default_execution_queue("alpha")
    if MODE == "debug":
        PipelineDecorator.debug_pipeline()
    elif MODE == "local":
        PipelineDecorator.run_locally()
    executing_pipeline(data_url=DATA_URL)  # remote: the controller goes to the services queue
    print("process completed")
