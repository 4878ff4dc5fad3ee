"""ClearML's examples/pipeline/pipeline_from_functions.py, in our own code: three function steps
(load a CSV from a URL, split it, fit a nearest-centroid model), each cached, chained through
named returns; a post-execute callback on the last step prints the held-out accuracy, read
back from the steps' stored outputs (in the controller while it runs: in ClearML too, what a
remote controller prints after `start()` returns is no longer logged, its task is closed).

    python pipeline_from_functions.py debug|local|remote DATA_URL
"""

import sys

from ductwork import PipelineController, Task


def load_points(data_url):
    import pandas as pd

    from ductwork import StorageManager

    return pd.read_csv(StorageManager.get_local_copy(remote_url=data_url))


def split_points(points, test_size=0.25):
    # Every k-th row is held out: a split anyone can recompute from the file.
    every = round(1 / test_size)
    held_out = points.index % every == 0
    features = ["x", "y"]
    return (
        points.loc[~held_out, features],
        points.loc[held_out, features],
        points.loc[~held_out, "label"],
        points.loc[held_out, "label"],
    )


def fit_centroids(data):
    x_train, _x_test, y_train, _y_test = data
    return {int(label): rows.mean().tolist() for label, rows in x_train.groupby(y_train)}


def accuracy(model, x_test, y_test):
    import numpy as np

    labels = sorted(model)
    centres = np.array([model[label] for label in labels])
    distances = ((x_test.to_numpy()[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    predicted = np.array(labels)[distances.argmin(axis=1)]
    return float((predicted == y_test.to_numpy()).mean())


def print_accuracy(a_pipeline, a_node):
    dag = a_pipeline.get_pipeline_dag()
    model = Task.get_task(task_id=a_node.executed).artifacts["model"].get()
    _, x_test, _, y_test = (
        Task.get_task(task_id=dag["split_points"].executed).artifacts["processed_data"].get()
    )
    print(f"accuracy={accuracy(model, x_test, y_test):.4f}")


if __name__ == "__main__":
    mode, data_url = sys.argv[1], sys.argv[2]
    pipe = PipelineController(
        project="clearml shape", name=f"functions {mode}", version="1.1", add_pipeline_tags=False
    )
    pipe.set_default_execution_queue("alpha")
    pipe.add_parameter(name="url", description="url of the points CSV", default=data_url)
    pipe.add_function_step(
        name="load_points",
        function=load_points,
        function_kwargs=dict(data_url="${pipeline.url}"),
        function_return=["points"],
        cache_executed_step=True,
    )
    pipe.add_function_step(
        name="split_points",
        function=split_points,
        function_kwargs=dict(points="${load_points.points}"),
        function_return=["processed_data"],
        cache_executed_step=True,
        execution_queue="beta",
    )
    pipe.add_function_step(
        name="fit_centroids",
        function=fit_centroids,
        function_kwargs=dict(data="${split_points.processed_data}"),
        function_return=["model"],
        cache_executed_step=True,
        post_execute_callback=print_accuracy,
    )
    if mode == "debug":
        pipe.start_locally(in_process=True)
    elif mode == "local":
        pipe.start_locally(run_pipeline_steps_locally=True)
    else:
        pipe.start(queue="services")  # here: hand over and exit; on the services agent: run
    print("pipeline completed")
