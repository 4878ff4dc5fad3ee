"""Matplotlib capture: figures shown (`plt.show()`) or saved (`savefig`) become plots of the task.

Each captured figure is reported as a PNG image event, plus an interactive plot of its lines.
The same unchanged figure shown and saved is reported once. Capture follows the current task of
the calling context and its `auto_connect_frameworks` switch.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from types import ModuleType
from typing import TYPE_CHECKING

from ductwork.sdk import current
from ductwork.sdk.capture import hooks
from ductwork.sdk.capture.console import original_stderr
from ductwork.sdk.capture.figures import original_savefig, render_png, rendering, title_of, to_plotly
from ductwork.sdk.logger import Logger

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FRAMEWORK = "matplotlib"

_reported: weakref.WeakKeyDictionary[Figure, str] = weakref.WeakKeyDictionary()
_counts: dict[tuple[str, str], int] = {}
_lock = threading.Lock()


def enable() -> None:
    """Patch matplotlib now if imported, else as soon as it is."""
    hooks.on_import("matplotlib.figure", _patch_figure)
    hooks.on_import("matplotlib.pyplot", _patch_pyplot)


def _capture(figure: Figure, series: str) -> None:
    """Report `figure` to the current task, unless capture is off or it was reported unchanged."""
    task = current.get()
    if task is None or not task._captures(FRAMEWORK) or rendering():
        return
    png = render_png(figure)
    digest = hashlib.sha256(png).hexdigest()
    with _lock:
        if _reported.get(figure) == digest:
            return
        _reported[figure] = digest
        title = title_of(figure)
        step = _counts.get((task.id, title), 0)
        _counts[(task.id, title)] = step + 1
    logger = Logger.of(task)
    logger._report_png(title, series, step, png, {"source": "matplotlib"})
    plot = to_plotly(figure)
    if plot is not None:
        logger._put("plot", title, series, step, plot)


def _patch_figure(module: ModuleType) -> None:
    figure_class = module.Figure
    if getattr(figure_class.savefig, "_ductwork", False):
        return
    original = figure_class.savefig
    original_savefig[0] = original

    def savefig(self: Figure, fname: object, *args: object, **kwargs: object) -> object:
        result = original(self, fname, *args, **kwargs)
        if not rendering():
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

    def show(*args: object, **kwargs: object) -> object:
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
    print(f"ductwork: matplotlib capture failed: {exc}", file=original_stderr())
