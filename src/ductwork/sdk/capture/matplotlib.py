"""Matplotlib capture: figures shown (`plt.show()`) or saved (`savefig`) become plots of the task.

Each captured figure is reported as a PNG image event, plus an interactive plot of its lines.
The same unchanged figure shown and saved is reported once. Capture follows the current task of
the calling context and its `auto_connect_frameworks` switch.
"""

from __future__ import annotations

import hashlib
import io
import threading
import weakref
from types import ModuleType
from typing import Any

from ductwork.core.errors import ValidationError
from ductwork.sdk import current
from ductwork.sdk.capture import hooks

FRAMEWORK = "matplotlib"

_original_savefig: list[Any] = [None]
_guard = threading.local()  # set while we render ourselves, so our savefig is not captured
_reported: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
_counts: dict[tuple[str, str], int] = {}
_lock = threading.Lock()


def enable() -> None:
    """Patch matplotlib now if imported, else as soon as it is."""
    hooks.on_import("matplotlib.figure", _patch_figure)
    hooks.on_import("matplotlib.pyplot", _patch_pyplot)


def as_figure(figure: Any) -> Any:
    """A Figure from a Figure or the pyplot module (its current figure)."""
    if isinstance(figure, ModuleType) and hasattr(figure, "gcf"):
        return figure.gcf()
    if not hasattr(figure, "savefig") or not hasattr(figure, "axes"):
        raise ValidationError(f"expected a matplotlib Figure, got {type(figure).__name__}")
    return figure


def render_png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    savefig = _original_savefig[0]
    _guard.active = True
    try:
        if savefig is not None:
            savefig(figure, buffer, format="png")
        else:
            figure.savefig(buffer, format="png")
    finally:
        _guard.active = False
    return buffer.getvalue()


def to_plotly(figure: Any) -> dict[str, Any] | None:
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
    layout["title"] = {"text": _title_of(figure)}
    from ductwork.sdk.logger import jsonable

    return {"data": jsonable(traces), "layout": jsonable(layout)}


def _list(values: Any) -> list[Any]:
    return values.tolist() if hasattr(values, "tolist") else list(values)


def _title_of(figure: Any) -> str:
    suptitle = getattr(figure, "_suptitle", None)
    if suptitle is not None and suptitle.get_text():
        return str(suptitle.get_text())
    for axes in figure.axes:
        if axes.get_title():
            return str(axes.get_title())
    number = getattr(figure, "number", None)
    return f"Figure {number}" if number is not None else "Figure"


def _capture(figure: Any, series: str) -> None:
    """Report `figure` to the current task, unless capture is off or it was reported unchanged."""
    task = current.get()
    if task is None or not task._captures(FRAMEWORK) or getattr(_guard, "active", False):
        return
    png = render_png(figure)
    digest = hashlib.sha256(png).hexdigest()
    with _lock:
        if _reported.get(figure) == digest:
            return
        _reported[figure] = digest
        title = _title_of(figure)
        step = _counts.get((task.id, title), 0)
        _counts[(task.id, title)] = step + 1
    logger = task.get_logger()
    logger._report_png(title, series, step, png, {"source": "matplotlib"})
    plot = to_plotly(figure)
    if plot is not None:
        logger._put("plot", title, series, step, plot)


def _patch_figure(module: ModuleType) -> None:
    figure_class = module.Figure
    if getattr(figure_class.savefig, "_ductwork", False):
        return
    original = figure_class.savefig
    _original_savefig[0] = original

    def savefig(self: Any, fname: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, fname, *args, **kwargs)
        if not getattr(_guard, "active", False):
            try:
                _capture(self, "savefig")
            except Exception as exc:  # capture must never break the user's plotting
                _warn(exc)
        return result

    savefig._ductwork = True  # type: ignore[attr-defined]
    figure_class.savefig = savefig


def _patch_pyplot(module: ModuleType) -> None:
    if getattr(module.show, "_ductwork", False):
        return
    original = module.show

    def show(*args: Any, **kwargs: Any) -> Any:
        try:
            from matplotlib._pylab_helpers import Gcf

            for manager in Gcf.get_all_fig_managers():
                _capture(manager.canvas.figure, "plot")
        except Exception as exc:
            _warn(exc)
        return original(*args, **kwargs)

    show._ductwork = True  # type: ignore[attr-defined]
    setattr(module, "show", show)  # noqa: B010  (a module attribute mypy cannot see)


def _warn(exc: Exception) -> None:
    from ductwork.sdk.capture.console import original_stderr

    print(f"ductwork: matplotlib capture failed: {exc}", file=original_stderr())
