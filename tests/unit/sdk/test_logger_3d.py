"""`Logger.report_scatter3d` and `Logger.report_surface`: plotly figures stored as plot events."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ductwork import Task
from ductwork.core.errors import ValidationError
from ductwork.core.queries import EventQuery


@pytest.fixture
def task(sdk_home: Path) -> Task:
    return Task.init("logger", "3d")


def plots(task: Task) -> dict[str, dict]:  # type: ignore[type-arg]
    task.get_logger().flush(wait=True)
    found = task._backend.get_events(EventQuery(task_id=task.id, kind="plot"))
    return {f"{event.title}/{event.series}@{event.iteration}": event.payload for event in found}


def test_a_scatter3d_is_a_plotly_scatter3d_figure(task: Task) -> None:
    logger = task.get_logger()
    points = np.array([[0, 1, 2], [3, 4, 5.5]])
    logger.report_scatter3d(
        "cloud", "pts", points, iteration=2, xaxis="x", yaxis="y", zaxis="depth", labels=["a", "b"]
    )
    logger.report_scatter3d("cloud", "path", [(0, 0, 0), (1, 1, 1)], mode="lines+markers", fill=True)
    found = plots(task)
    figure = found["cloud/pts@2"]
    assert figure["data"] == [
        {
            "type": "scatter3d",
            "mode": "markers",
            "name": "pts",
            "x": [0.0, 3.0],
            "y": [1.0, 4.0],
            "z": [2.0, 5.5],
            "text": ["a", "b"],
        }
    ]
    assert figure["layout"]["scene"]["zaxis"] == {"title": {"text": "depth"}}
    assert figure["layout"]["title"] == {"text": "cloud"}
    path = found["cloud/path@0"]["data"][0]
    assert path["mode"] == "lines+markers" and path["surfaceaxis"] == 2


def test_a_surface_is_a_plotly_surface_figure(task: Task) -> None:
    logger = task.get_logger()
    heights = np.arange(6).reshape(2, 3)
    logger.report_surface(
        "terrain",
        "h",
        heights,
        iteration=1,
        zaxis="height",
        xlabels=["a", "b", "c"],
        ylabels=["north", "south"],
        camera=(1.5, 1.5, 0.8),
        comment="metres",
        extra_layout={"height": 500},
    )
    figure = plots(task)["terrain/h@1"]
    assert figure["data"] == [
        {
            "type": "surface",
            "name": "h",
            "z": [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]],
            "x": ["a", "b", "c"],
            "y": ["north", "south"],
        }
    ]
    layout = figure["layout"]
    assert layout["scene"]["camera"] == {"eye": {"x": 1.5, "y": 1.5, "z": 0.8}}
    assert layout["comment"] == "metres" and layout["height"] == 500


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda log: log.report_scatter3d("c", "s", [(1, 2)]),
            r"c/s: scatter points must be \(x, y, z\), got \(1, 2\)",
        ),
        (lambda log: log.report_scatter3d("c", "s", 5), "c/s: scatter must be a sequence of rows, got int"),
        (
            lambda log: log.report_scatter3d("c", "s", [(1, "a", 2)]),
            "c/s: scatter point must be a number, got str",
        ),
        (lambda log: log.report_scatter3d("c", "s", [(1, 2, 3)], mode="dots"), "mode must be .* got 'dots'"),
        (lambda log: log.report_scatter3d("c", "s", [(1, 2, 3)], labels=["a", "b"]), "2 labels for 1 values"),
        (lambda log: log.report_scatter3d("c", "s", [(1, 2, 3)], fill="yes"), "fill must be a bool, got str"),
        (lambda log: log.report_scatter3d(3, "s", [(1, 2, 3)]), "title must be a str, got int"),
        (
            lambda log: log.report_surface("m", "s", [[1, 2], [3]]),
            r"rows of one length, got row lengths \[2, 1\]",
        ),
        (lambda log: log.report_surface("m", "s", []), "non-empty 2-D array"),
        (lambda log: log.report_surface("m", "s", [[1, None]]), "matrix row must be a number, got NoneType"),
        (lambda log: log.report_surface("m", "s", [[1, 2]], xlabels=["a"]), "1 xlabels for 2 values"),
        (
            lambda log: log.report_surface("m", "s", [[1, 2]], camera=(1, 2)),
            r"camera must be the \(x, y, z\)",
        ),
    ],
)
def test_bad_3d_input_is_refused_by_name(task: Task, call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match=message):
        call(task.get_logger())
    assert plots(task) == {}
