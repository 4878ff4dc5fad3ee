"""`ductwork demo`: a small project to look at, made with the public API only.

Three tasks (prepare data -> train -> evaluate) with typed parameters, a configuration object,
artifacts of every kind, scalars, a table, a plot and a model passed from one task to the next.
Everything goes to the configured store ($DUCTWORK_HOME by default).
"""

from __future__ import annotations

import math
import random
import tempfile
from fractions import Fraction
from pathlib import Path
from typing import Any

import click

from ductwork.core import settings


def run_demo(project: str = "ductwork demo") -> dict[str, str]:
    """Create the demo tasks; returns their ids by step name, and prints where to look."""
    from ductwork.sdk.task import Task

    with tempfile.TemporaryDirectory(prefix="ductwork-demo-") as scratch:
        folder = Path(scratch)
        prepared = _prepare(Task, project, folder)
        trained, model_id = _train(Task, project, prepared, folder)
        evaluated = _evaluate(Task, project, trained, model_id)
    ids = {"prepare data": prepared, "train": trained, "evaluate": evaluated}
    _print_summary(project, ids)
    return ids


def _prepare(task_class: Any, project: str, folder: Path) -> str:
    task = task_class.init(project, "prepare data", task_type="data_processing", auto_connect_streams=False)
    config = task.connect(
        {"rows": 200, "seed": 7, "features": ["x", "noise"], "normalize": True}, name="Args"
    )
    random.seed(config["seed"])
    rows = [(i / config["rows"], random.gauss(0, 0.1)) for i in range(config["rows"])]
    csv = folder / "samples.csv"
    csv.write_text("x,noise\n" + "".join(f"{x:.4f},{n:.4f}\n" for x, n in rows))
    docs = folder / "docs"
    docs.mkdir()
    (docs / "README.txt").write_text("How the samples were made.\n")
    (docs / "schema.json").write_text('{"x": "float", "noise": "float"}\n')
    task.upload_artifact("summary", {"rows": len(rows), "columns": config["features"]})
    task.upload_artifact("notes", "Uniform x in [0, 1), Gaussian noise with sigma 0.1.")
    task.upload_artifact("samples file", str(csv))
    task.upload_artifact("docs folder", str(docs))
    task.upload_artifact("ratio", Fraction(1, 3))  # no readable format: pickled
    for name, value in _data_artifacts(rows).items():
        task.upload_artifact(name, value, preview=f"{name} of {len(rows)} rows")
    task.get_logger().report_table(
        "samples", "head", table_plot=[["x", "noise"], *[list(r) for r in rows[:5]]]
    )
    task.close()
    return str(task.id)


def _data_artifacts(rows: list[tuple[float, float]]) -> dict[str, Any]:
    """numpy, pandas and image artifacts when those libraries are installed (`.[data]`)."""
    found: dict[str, Any] = {}
    try:
        import numpy as np
    except ImportError:
        return found
    found["samples array"] = np.asarray(rows)
    try:
        import pandas as pd

        found["samples table"] = pd.DataFrame(rows, columns=["x", "noise"])
    except ImportError:
        pass
    try:
        from PIL import Image

        pixels = (np.outer(np.linspace(0, 255, 32), np.ones(32))).astype("uint8")
        found["gradient image"] = Image.fromarray(pixels)
    except ImportError:
        pass
    return found


def _train(task_class: Any, project: str, parent: str, folder: Path) -> tuple[str, str]:
    from ductwork.sdk.model import OutputModel

    task = task_class.init(project, "train", auto_connect_streams=False)
    task.set_parent(parent)
    params = task.connect({"learning_rate": 0.3, "epochs": 25, "layers": [16, 8], "optimizer": "sgd"})
    task.connect_configuration({"early_stopping": {"patience": 5, "metric": "val/loss"}}, name="training")
    logger = task.get_logger()
    loss = 1.0
    for epoch in range(params["epochs"]):
        loss *= 1 - params["learning_rate"] / 4
        logger.report_scalar("loss", "train", loss, epoch)
        logger.report_scalar("loss", "val", loss * 1.1 + 0.01 * math.sin(epoch), epoch)
        logger.report_scalar("accuracy", "val", 1 - loss / 2, epoch)
    logger.report_single_value("final accuracy", 1 - loss / 2)
    logger.report_histogram("weights", "layer 1", [3, 7, 12, 7, 3], xlabels=["-2", "-1", "0", "1", "2"])
    _plot(logger, params["epochs"])
    weights = folder / "weights.json"
    weights.write_text('{"w": [0.5, -0.25], "b": 0.1}\n')
    model = OutputModel(
        task=task, name="demo regressor", framework="custom", config_dict={"layers": params["layers"]}
    )
    model.update_weights(str(weights))
    task.close()
    return str(task.id), model.id


def _plot(logger: Any, epochs: int) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    figure, axes = plt.subplots(figsize=(4, 3))
    axes.plot(range(epochs), [0.3**0.1 * math.exp(-e / 8) for e in range(epochs)], label="schedule")
    axes.set_xlabel("epoch")
    axes.set_title("learning rate schedule")
    logger.report_matplotlib_figure("learning rate", "schedule", figure, iteration=0)
    plt.close(figure)


def _evaluate(task_class: Any, project: str, parent: str, model_id: str) -> str:
    from ductwork.sdk.model import InputModel

    task = task_class.init(project, "evaluate", task_type="testing", auto_connect_streams=False)
    task.set_parent(parent)
    model = InputModel(model_id=model_id)
    model.connect(task)
    weights = Path(model.get_local_copy(raise_on_error=True) or "").read_text()
    task.upload_artifact("evaluated weights", weights)
    task.get_logger().report_single_value("test accuracy", 0.91)
    task.close()
    return str(task.id)


def _print_summary(project: str, ids: dict[str, str]) -> None:
    click.echo(f"Created project {project!r} in {settings.db_url()}:")
    for name, task_id in ids.items():
        click.echo(f"  {name:<13} {task_id}")
    click.echo("\nLook at it with:")
    click.echo(f"  ductwork tasks list --project {_quoted(project)}")
    click.echo(f"  ductwork tasks show {ids['train']}")
    click.echo(f"  ductwork artifacts get {ids['prepare data']} 'samples table' --out samples.parquet")
    click.echo("  ductwork queues list")


def _quoted(text: str) -> str:
    return f"'{text}'" if " " in text else text
