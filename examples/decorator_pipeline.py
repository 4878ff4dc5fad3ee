"""A decorator pipeline: make a data set, train three models at once, keep the best.

    python examples/decorator_pipeline.py [local|debug|remote]

`local` (default): each step in its own process. `debug`: steps are plain calls in this
process. `remote`: the controller goes to the `services` queue and steps to `default` (start
`ductwork agent --queue services --queue default` first). The same script runs on ClearML by
changing only the import below.
"""

import sys

from ductwork import PipelineDecorator

FEATURES = 3


@PipelineDecorator.component(return_values=["x", "y"], cache=True, task_type="data_processing")
def make_data(rows: int, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, FEATURES))
    true_w = np.arange(1, FEATURES + 1, dtype=float)
    y = x @ true_w + rng.normal(scale=0.5, size=rows)
    print(f"made {rows} rows with {FEATURES} features")
    return x, y


@PipelineDecorator.component(return_values=["weights", "train_error"], task_type="training")
def train(x, y, ridge: float):
    import numpy as np

    from ductwork import Logger

    gram = x.T @ x + ridge * np.eye(x.shape[1])
    weights = np.linalg.solve(gram, x.T @ y)
    error = float(np.mean((x @ weights - y) ** 2))
    Logger.current_logger().report_scalar("train", "mse", error, iteration=0)
    print(f"ridge={ridge}: train mse {error:.4f}")
    return weights, error


@PipelineDecorator.component(return_values=["best"], task_type="qc")
def pick_best(candidates, ridges):
    from ductwork import PipelineDecorator as Pipeline

    errors = [float(error) for _, error in candidates]
    index = min(range(len(errors)), key=errors.__getitem__)
    best = {"ridge": ridges[index], "mse": errors[index], "weights": [float(w) for w in candidates[index][0]]}
    Pipeline.get_logger().report_single_value("best mse", best["mse"])
    Pipeline.upload_artifact("best_model", best)
    return best


@PipelineDecorator.pipeline(name="ridge search", project="examples", version="1.0.0")
def ridge_search(rows: int = 500, seed: int = 7, ridges: list = [0.01, 1.0, 100.0]):
    x, y = make_data(rows, seed)
    candidates = [train(x, y, ridge) for ridge in ridges]  # three trainings run at once
    best = pick_best([[w, e] for w, e in candidates], ridges)
    print(f"best ridge {best['ridge']} with mse {best['mse']:.4f}")
    return best


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "local"
    if mode == "debug":
        PipelineDecorator.debug_pipeline()
    elif mode == "local":
        PipelineDecorator.run_locally()
    else:
        PipelineDecorator.set_default_execution_queue("default")
    ridge_search()
