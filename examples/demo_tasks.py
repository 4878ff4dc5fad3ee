"""Two tasks with the Task / Logger / Model API: train a tiny model, then evaluate it.

    python examples/demo_tasks.py --epochs 30 --lr 0.05

Run it as is, or change only the import line to run it on ClearML. Everything lands in the
embedded store ($DUCTWORK_HOME, default ~/.ductwork); look with `ductwork tasks list`.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ductwork import InputModel, OutputModel, Task


def make_data(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, rows)
    return pd.DataFrame({"x": x, "y": 3 * x + 0.5 + rng.normal(0, 0.1, rows)})


def train(args: argparse.Namespace, workdir: Path) -> tuple[str, str]:
    # argparse arguments are connected to the task's "Args" section automatically
    task = Task.init(project_name="examples/demo", task_name="train linear model")
    schedule = task.connect({"warmup_epochs": 2, "decay": 0.99}, name="Schedule")
    config_file = workdir / "model.json"
    config_file.write_text(json.dumps({"features": ["x"], "target": "y"}))
    task.connect_configuration(config_file, name="model")

    data = make_data(args.rows, args.seed)
    task.upload_artifact("training data", data)  # a DataFrame: stored as Parquet
    w, b, logger = 0.0, 0.0, task.get_logger()
    x, y = data["x"].to_numpy(), data["y"].to_numpy()
    for epoch in range(args.epochs):
        lr = (
            args.lr * (epoch + 1) / schedule["warmup_epochs"]
            if epoch < schedule["warmup_epochs"]
            else args.lr
        )
        error = w * x + b - y
        w -= lr * 2 * float(np.mean(error * x))
        b -= lr * 2 * float(np.mean(error))
        logger.report_scalar("loss", "mse", float(np.mean(error**2)), epoch)
        logger.report_scalar("parameters", "w", w, epoch)
        args.lr *= schedule["decay"]

    _, axes = plt.subplots()
    axes.scatter(x, y, s=4, label="data")
    axes.plot(np.sort(x), w * np.sort(x) + b, color="red", label="fit")
    axes.set_title("linear fit")
    axes.legend()
    plt.show()  # captured as a plot of the task

    weights = workdir / "weights.npy"
    np.save(weights, np.array([w, b]))
    model = OutputModel(task=task, name="linear", framework="numpy", config_dict={"inputs": 1})
    model.update_weights(str(weights))
    print(f"trained: w={w:.3f} b={b:.3f}")
    task.close()
    return task.id, model.id


def evaluate(model_id: str, seed: int) -> str:
    task = Task.init(project_name="examples/demo", task_name="evaluate linear model", task_type="testing")
    model = InputModel(model_id=model_id)
    model.connect(task)
    w, b = np.load(model.get_local_copy(raise_on_error=True) or "")
    test = make_data(100, seed + 1)
    mse = float(np.mean((w * test["x"] + b - test["y"]) ** 2))
    task.get_logger().report_single_value("test mse", mse)
    task.get_logger().report_table("predictions", "head", table_plot=test.head(10))
    task.upload_artifact("metrics", {"mse": mse, "w": float(w), "b": float(b)})
    print(f"evaluated: test mse={mse:.4f}")
    task.close()
    return task.id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        train_id, model_id = train(args, Path(workdir))
    evaluate_id = evaluate(model_id, args.seed)
    print(f"train task {train_id}\nevaluate task {evaluate_id}")
    print("look at them with: ductwork tasks list --project examples/demo")


if __name__ == "__main__":
    main()
