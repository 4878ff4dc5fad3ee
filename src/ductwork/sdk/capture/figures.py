"""Matplotlib figures as ductwork reports them: a PNG, and a plotly-like figure of their lines.

Rendering goes around the captured `savefig` (`capture.matplotlib` patches it), so drawing a
figure for a report is never itself captured.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import TYPE_CHECKING, Any, cast

from ductwork.core.errors import ValidationError
from ductwork.sdk.reported import jsonable

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# matplotlib's own savefig, once capture patched it; set while we render, so ours is not captured.
original_savefig: list[Callable[..., object] | None] = [None]
_guard = threading.local()


def rendering() -> bool:
    """True while ductwork itself renders a figure in this thread."""
    return bool(getattr(_guard, "active", False))


def as_figure(figure: object) -> Figure:
    """A Figure from a Figure or the pyplot module (its current figure)."""
    if isinstance(figure, ModuleType) and hasattr(figure, "gcf"):
        return cast("Figure", figure.gcf())
    if not hasattr(figure, "savefig") or not hasattr(figure, "axes"):
        raise ValidationError(f"expected a matplotlib Figure, got {type(figure).__name__}")
    return cast("Figure", figure)  # what has a Figure's savefig and axes is drawn as one


def render_png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    savefig = original_savefig[0]
    _guard.active = True
    try:
        if savefig is not None:
            savefig(figure, buffer, format="png")
        else:
            figure.savefig(buffer, format="png")
    finally:
        _guard.active = False
    return buffer.getvalue()


def to_plotly(figure: Figure) -> dict[str, Any] | None:
    """The figure's line data as a plotly-like figure (None when it has no lines to show)."""
    traces: list[dict[str, Any]] = []
    layout: dict[str, Any] = {}
    for index, axes in enumerate(figure.axes):
        suffix = "" if index == 0 else str(index + 1)
        for line in axes.get_lines():
            label = str(line.get_label())
            xs, ys = line.get_xdata(), line.get_ydata()
            traces.append(
                {
                    "type": "scatter",
                    "mode": "lines" if line.get_linestyle() not in ("None", "", " ") else "markers",
                    "name": "" if label.startswith("_") else label,
                    "x": _list(xs),
                    "y": _list(ys),
                    "xaxis": f"x{suffix}",
                    "yaxis": f"y{suffix}",
                }
            )
        layout[f"xaxis{suffix}"] = {"title": {"text": axes.get_xlabel()}}
        layout[f"yaxis{suffix}"] = {"title": {"text": axes.get_ylabel()}}
    if not traces:
        return None
    layout["title"] = {"text": title_of(figure)}
    return {"data": jsonable(traces), "layout": jsonable(layout)}


def _list(values: object) -> list[object]:
    """A line's data (an array, or any sequence matplotlib took) as a list."""
    if hasattr(values, "tolist"):
        return list(values.tolist())
    return list(cast("Iterable[object]", values))


def title_of(figure: Figure) -> str:
    suptitle = getattr(figure, "_suptitle", None)
    if suptitle is not None and suptitle.get_text():
        return str(suptitle.get_text())
    for axes in figure.axes:
        if axes.get_title():
            return str(axes.get_title())
    number = getattr(figure, "number", None)
    return f"Figure {number}" if number is not None else "Figure"
