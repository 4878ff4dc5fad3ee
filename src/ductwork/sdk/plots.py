"""Plot parts: the points of a series, plotly traces and the layout of a figure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from ductwork.core.errors import ValidationError
from ductwork.sdk import reported


def xy(data: Any, title: str, series: str) -> tuple[list[Any], list[Any]]:
    if hasattr(data, "tolist"):
        data = data.tolist()
    xs, ys = [], []
    try:
        for x, y in data:
            xs.append(x)
            ys.append(y)
    except (TypeError, ValueError):
        raise ValidationError(f"{title}/{series}: data must be (x, y) pairs or an N x 2 array") from None
    return xs, ys


def layout(
    title: str,
    xaxis: str | None,
    yaxis: str | None,
    extra: Mapping[str, object] | None,
    *,
    reverse_xaxis: bool = False,
    **more: object,
) -> dict[str, object]:
    """A plotly layout: title and axis titles, then `more`, then the caller's `extra` over them."""
    layout: dict[str, Any] = {
        "title": {"text": title},
        "xaxis": {"title": {"text": xaxis or ""}},
        "yaxis": {"title": {"text": yaxis or ""}},
        **more,
    }
    layout.update(extra or {})
    if reverse_xaxis:
        layout["xaxis"]["autorange"] = "reversed"
    return dict(layout)


class Axes(NamedTuple):
    """The titles of a 3-D plot's axes."""

    x: str | None
    y: str | None
    z: str | None


def scatter3d(
    title: str,
    series: str,
    scatter: Any,
    labels: Sequence[str] | None,
    mode: str,
    fill: bool,
) -> dict[str, object]:
    """A plotly `scatter3d` trace of points (x, y, z): a sequence of triples or an N x 3 array.
    `fill` fills a surface under the points (plotly's `surfaceaxis`)."""
    _check_mode(mode, title, series)
    if not isinstance(fill, bool):
        raise ValidationError(f"{title}/{series}: fill must be a bool, got {type(fill).__name__} ({fill!r})")
    points = [_triple(point, title, series) for point in _rows(scatter, "scatter", title, series)]
    trace: dict[str, object] = {
        "type": "scatter3d",
        "mode": mode,
        "name": series,
        "x": [p[0] for p in points],
        "y": [p[1] for p in points],
        "z": [p[2] for p in points],
    }
    if labels is not None:
        trace["text"] = _labels(labels, len(points), title, series)
    if fill:
        trace["surfaceaxis"] = 2
    return trace


def surface(
    title: str,
    series: str,
    matrix: Any,
    xlabels: Sequence[str | float] | None,
    ylabels: Sequence[str | float] | None,
) -> dict[str, object]:
    """A plotly `surface` trace: `matrix` is the height z of each (row y, column x)."""
    rows = [
        reported.numbers(row, "matrix row", title, series) for row in _rows(matrix, "matrix", title, series)
    ]
    width = len(rows[0]) if rows else 0
    if not width or any(len(row) != width for row in rows):
        raise ValidationError(
            f"{title}/{series}: matrix must be a non-empty 2-D array of numbers with rows of one length, "
            f"got row lengths {[len(row) for row in rows]}"
        )
    trace: dict[str, object] = {"type": "surface", "name": series, "z": rows}
    if xlabels is not None:
        trace["x"] = _labels(xlabels, width, title, series, "xlabels")
    if ylabels is not None:
        trace["y"] = _labels(ylabels, len(rows), title, series, "ylabels")
    return trace


def layout3d(
    title: str,
    axes: Axes,
    extra: Mapping[str, object] | None,
    *,
    camera: Sequence[float] | None = None,
    comment: str | None = None,
) -> dict[str, object]:
    """A plotly layout of a 3-D figure: the axis titles (and the camera's eye) in its `scene`."""
    scene: dict[str, object] = {
        name: {"title": {"text": text or ""}}
        for name, text in zip(("xaxis", "yaxis", "zaxis"), axes, strict=True)
    }
    if camera is not None:
        eye = reported.numbers(camera, "camera", title, "camera")
        if len(eye) != 3:
            raise ValidationError(f"{title}: camera must be the (x, y, z) of the eye, got {list(camera)!r}")
        scene["camera"] = {"eye": dict(zip("xyz", eye, strict=True))}
    result: dict[str, object] = {"title": {"text": title}, "scene": scene}
    if comment:
        result["comment"] = comment
    result.update(extra or {})
    return result


_MODE_PARTS = frozenset({"lines", "markers", "text", "none"})


def _check_mode(mode: object, title: str, series: str) -> None:
    if not isinstance(mode, str) or not mode or not set(mode.split("+")) <= _MODE_PARTS:
        raise ValidationError(
            f"{title}/{series}: mode must be 'markers', 'lines', 'lines+markers' or another '+' "
            f"combination of lines, markers and text, got {mode!r}"
        )


def _rows(data: Any, what: str, title: str, series: str) -> list[Any]:
    if hasattr(data, "tolist"):
        data = data.tolist()
    if isinstance(data, (str, bytes, Mapping)) or not isinstance(data, Iterable):
        raise ValidationError(
            f"{title}/{series}: {what} must be a sequence of rows, got {type(data).__name__}"
        )
    return list(data)


def _triple(point: Any, title: str, series: str) -> list[float]:
    values = reported.numbers(point, "scatter point", title, series)
    if len(values) != 3:
        raise ValidationError(f"{title}/{series}: scatter points must be (x, y, z), got {point!r}")
    return values


def _labels(labels: Any, count: int, title: str, series: str, what: str = "labels") -> list[str | float]:
    found = list(labels.tolist() if hasattr(labels, "tolist") else labels)
    if len(found) != count:
        raise ValidationError(f"{title}/{series}: {len(found)} {what} for {count} values")
    return found
