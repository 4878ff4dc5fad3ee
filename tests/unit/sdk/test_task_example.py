"""examples/demo_tasks.py runs and leaves what it promises in the store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ductwork import Task
from ductwork.core.queries import EventQuery

ROOT = Path(__file__).resolve().parents[3]


def test_demo_tasks_example(sdk_home: Path) -> None:
    env = {**os.environ, "DUCTWORK_HOME": str(sdk_home), "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "demo_tasks.py"), "--epochs", "12", "--lr", "0.2"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    ids = dict(line.rsplit(" task ", 1) for line in done.stdout.splitlines() if " task " in line)
    train, evaluate = Task.get_task(ids["train"]), Task.get_task(ids["evaluate"])
    assert train.status == evaluate.status == "completed"
    assert train.get_parameters(cast=True)["Args/epochs"] == 12
    assert train.get_parameters(cast=True)["Schedule/warmup_epochs"] == 2
    assert len(train.get_reported_scalars()["loss"]["mse"]["y"]) == 12
    assert train.get_configuration_object_as_dict("model") == {"features": ["x"], "target": "y"}
    assert set(train.artifacts) == {"training data"}
    assert train.artifacts["training data"].get().shape == (500, 2)
    assert any(line.startswith("trained: w=") for line in train.get_reported_console_output())
    images = train._backend.get_events(EventQuery(task_id=train.id, kind="image"))
    assert [(event.title, event.series) for event in images] == [("linear fit", "plot")]
    (model,) = train.models["output"]
    assert [m.id for m in evaluate.models["input"]] == [model.id]
    assert evaluate.artifacts["metrics"].get()["mse"] < 1.0
    assert evaluate.get_reported_single_values()["test mse"] < 1.0
