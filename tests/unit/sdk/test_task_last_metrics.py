"""get_last_scalar_metrics and get_last_iteration: a series' last, min and max, read back."""

from __future__ import annotations

import math
from pathlib import Path

from ductwork import Task


def test_last_min_max_per_series(sdk_home: Path) -> None:
    task = Task.init("p", "metrics", auto_resource_monitoring=False)
    assert task.get_last_scalar_metrics() == {} and task.get_last_iteration() == 0
    logger = task.get_logger()
    for iteration, value in [(0, 3.0), (1, 1.0), (2, float("nan")), (3, 7.0), (3, 5.0), (1, 9.0)]:
        logger.report_scalar("loss", "train", value, iteration)
    logger.report_scalar("loss", "val", float("nan"), 4)
    logger.report_scalar("acc", "val", 0.5, 10)
    metrics = task.get_last_scalar_metrics()
    # the highest iteration (3), and of the two reported at it the later; NaN left out of min/max
    assert metrics["loss"]["train"] == {"last": 5.0, "min": 1.0, "max": 9.0}
    assert all(math.isnan(v) for v in metrics["loss"]["val"].values())
    assert metrics["acc"] == {"val": {"last": 0.5, "min": 0.5, "max": 0.5}}
    assert task.get_last_iteration() == 10
    task.close()
    again = Task.get_task(task.id).get_last_scalar_metrics()
    assert again["loss"]["train"] == metrics["loss"]["train"] and again["acc"] == metrics["acc"]
