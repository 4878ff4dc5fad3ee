"""ClearML's examples/pipeline/full_tabular_data_process_pipeline_example.py, in our own code.
ductwork has no ClearML Data (`Dataset`), so a table travels as the artifact `table` of the
component that made it, named by that component's task id as the Dataset id is in ClearML's;
the rest is its shape: cached components passing ids, a check whose result steers the pipeline,
one component called twice in a loop with different arguments, their results passed on as a list,
models stored with OutputModel and the best one connected under a monitored name.

    python tabular_pipeline.py debug|local DATA_URL
"""

import sys

from ductwork import PipelineDecorator


@PipelineDecorator.component(cache=True)
def create_table(source_url: str) -> str:
    import pandas as pd

    from ductwork import StorageManager, Task

    table = pd.read_csv(StorageManager.get_local_copy(source_url))
    Task.current_task().upload_artifact("table", table)
    return Task.current_task().id


@PipelineDecorator.component(cache=True)
def preprocess_table(table_id: str) -> str:
    from ductwork import Task

    table = Task.get_task(task_id=table_id).artifacts["table"].get()
    table["radius"] = (table["x"] ** 2 + table["y"] ** 2) ** 0.5
    Task.current_task().upload_artifact("table", table)
    return Task.current_task().id


@PipelineDecorator.component(cache=True)
def verify_table(table_id: str, expected_num_columns: int):
    from ductwork import Task

    table = Task.get_task(task_id=table_id).artifacts["table"].get()
    print(f"columns: {list(table.columns)}")
    return len(table.columns) == expected_num_columns


@PipelineDecorator.component(output_uri=True)
def train_model(table_id: str, training_args: dict):
    import json

    import numpy as np

    from ductwork import OutputModel, Task

    table = Task.get_task(task_id=table_id).artifacts["table"].get()
    features = training_args["features"]
    held_out = table.index % 4 == 0
    train, test = table[~held_out], table[held_out]
    labels = sorted(train["label"].unique().tolist())
    centres = np.array([train.loc[train["label"] == label, features].mean().to_numpy() for label in labels])
    distances = ((test[features].to_numpy()[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    error = float((np.array(labels)[distances.argmin(axis=1)] != test["label"].to_numpy()).mean())
    with open("centroids.json", "w") as weights:
        json.dump({"labels": labels, "centres": centres.tolist(), "features": features}, weights)
    OutputModel(task=Task.current_task(), name=f"centroids {'+'.join(features)}").update_weights(
        "centroids.json"
    )
    Task.current_task().reload()
    model_id = Task.current_task().models["output"][-1].id
    return dict(error=error, model_id=model_id)


@PipelineDecorator.component(monitor_models=["best"])
def select_best_model(models_score: list):
    from ductwork import OutputModel, Task

    best = min(models_score, key=lambda scored: scored["error"])
    print(f"best error={best['error']:.4f}")
    best_model = OutputModel(base_model_id=best["model_id"])
    best_model.connect(task=Task.current_task(), name="best")
    return best_model.id


@PipelineDecorator.pipeline(name="tabular pipeline", project="clearml shape", version="0.1")
def pipeline(data_url: str):
    table_id = create_table(source_url=data_url)
    preprocessed_id = preprocess_table(table_id=table_id)
    if not bool(verify_table(table_id=preprocessed_id, expected_num_columns=4)):
        print("Verification Failed!")
        return False
    models_score = []
    for features in (["x"], ["x", "y"]):
        models_score.append(train_model(table_id=preprocessed_id, training_args=dict(features=features)))
    print(f"errors={sorted(round(scored['error'], 4) for scored in models_score)}")
    model_id = select_best_model(models_score=models_score)
    print(f"selected model_id = {model_id}")


if __name__ == "__main__":
    if sys.argv[1] == "debug":
        PipelineDecorator.debug_pipeline()
    else:
        PipelineDecorator.run_locally()
    pipeline(data_url=sys.argv[2])
