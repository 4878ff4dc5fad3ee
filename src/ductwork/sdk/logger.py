"""`Logger`: scalars, single values, tables, plots, images and text of a task.

Every report becomes a `MetricEvent` appended to the process's batched metric writer
(`ductwork.sdk.channels`); a writer thread sends them in bulk, so `report_scalar` costs a few
microseconds and never waits for the store. Images are stored as artifacts-style blobs by the
task's background uploads and then reported as `image` events pointing at them.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from ductwork.core.errors import ValidationError
from ductwork.core.records import ConsoleLine, MetricEvent, to_dict

_now = time.time

if TYPE_CHECKING:
    from ductwork.sdk.task import Task


class SeriesInfo(NamedTuple):
    """One line of `report_line_plot`: `data` is a sequence of (x, y) pairs or an N x 2 array."""

    name: str
    data: Any
    labels: Sequence[str] | None = None


class Logger:
    """The reporting side of a task; get it with `task.get_logger()` or `Logger.current_logger()`."""

    def __init__(self, task: Task) -> None:
        self._task = task
        self._task_id = task.id
        self._events = task._channels.events
        self._upload_uri: str | None = None
        self._image_counts: dict[tuple[str, str], int] = {}

    @classmethod
    def current_logger(cls) -> Logger:
        """The logger of the current task (see `Task.current_task`)."""
        from ductwork.sdk.task import Task

        task = Task.current_task()
        if task is None:
            raise ValidationError("Logger.current_logger(): there is no current task; call Task.init() first")
        return task.get_logger()

    # ---- scalars and values

    def report_scalar(self, title: str, series: str, value: float, iteration: int) -> None:
        """One point of a series. NaN and +-inf are stored as they are; an iteration outside
        the 64-bit range or a NUL character in a name is refused here (ValueError)."""
        if type(title) is not str or type(series) is not str or "\x00" in title or "\x00" in series:
            _require_str("title", title)
            _require_str("series", series)
        if type(value) is not float:
            value = _number("value", value, title, series)
        if type(iteration) is not int or not _INT64_MIN <= iteration <= _INT64_MAX:
            iteration = _iteration(iteration)
        self._events.put((self._task_id, "scalar", title, series, iteration, value, None, _now()))

    def report_single_value(self, name: str, value: float) -> None:
        """A value with no history (accuracy of the final model...), shown in the task's summary."""
        _require_str("name", name)
        number = _number("value", value, "Summary", name)
        self._events.put(MetricEvent(self._task_id, "single", "Summary", name, 0, number))

    def report_text(self, msg: Any, level: int = logging.INFO, print_console: bool = True) -> None:
        """A line in the task's console log (and on this process's stdout when `print_console`)."""
        if not isinstance(level, int):
            raise ValidationError(f"report_text: level must be an int logging level, got {level!r}")
        text = str(msg)
        if level != logging.INFO:
            text = f"{logging.getLevelName(level)}: {text}"
        if print_console:
            from ductwork.sdk.capture.console import original_stdout

            print(text, file=original_stdout())
        lines = [ConsoleLine(self._task_id, line, "ductwork") for line in text.split("\n")]
        self._task._channels.console.put_many(lines)

    # ---- tables and plots

    def report_table(
        self,
        title: str,
        series: str,
        iteration: int | None = None,
        table_plot: Any = None,
        csv: str | None = None,
        url: str | None = None,
        extra_layout: Mapping[str, Any] | None = None,
        extra_data: Mapping[str, Any] | None = None,
    ) -> None:
        """A table from a pandas DataFrame, a list of rows (first row: the header), or a CSV file/URL."""
        _require_str("title", title)
        _require_str("series", series)
        given = [
            name
            for name, value in (("table_plot", table_plot), ("csv", csv), ("url", url))
            if value is not None
        ]
        if len(given) != 1:
            raise ValidationError(
                f"report_table({title!r}, {series!r}): give exactly one of table_plot, csv, url"
            )
        if table_plot is not None:
            columns, rows = _table_of(table_plot, title)
        else:
            columns, rows = _read_csv(csv or url or "", title)
        payload = {
            "columns": columns,
            "rows": rows,
            "extra_layout": jsonable(extra_layout or {}),
            "extra_data": jsonable(extra_data or {}),
        }
        self._put("table", title, series, iteration, payload)

    def report_plotly(self, title: str, series: str, figure: Any, iteration: int | None = None) -> None:
        """A plotly figure (a `plotly.graph_objects.Figure` or its dict form)."""
        _require_str("title", title)
        _require_str("series", series)
        if hasattr(figure, "to_plotly_json"):
            figure = figure.to_plotly_json()
        elif hasattr(figure, "to_dict") and not isinstance(figure, Mapping):
            figure = figure.to_dict()
        if not isinstance(figure, Mapping):
            raise ValidationError(
                f"report_plotly({title!r}, {series!r}): figure must be a plotly Figure or a dict, "
                f"got {type(figure).__name__}"
            )
        self._put("plot", title, series, iteration, jsonable(figure))

    def report_histogram(
        self,
        title: str,
        series: str,
        values: Sequence[float] | Any,
        iteration: int | None = None,
        labels: Sequence[str] | None = None,
        xlabels: Sequence[str] | None = None,
        xaxis: str | None = None,
        yaxis: str | None = None,
        mode: str | None = None,
        data_args: Mapping[str, Any] | None = None,
        extra_layout: Mapping[str, Any] | None = None,
    ) -> None:
        """A bar chart of `values` (already counted: one bar per value), as ClearML draws it."""
        heights = _numbers(values, "values", title, series)
        x: list[Any] = list(xlabels) if xlabels is not None else list(range(len(heights)))
        if len(x) != len(heights):
            raise ValidationError(
                f"report_histogram({title!r}, {series!r}): {len(x)} xlabels for {len(heights)} values"
            )
        trace: dict[str, Any] = {"type": "bar", "name": series, "x": x, "y": heights}
        if labels is not None:
            trace["text"] = list(labels)
        trace.update(data_args or {})
        layout = _layout(title, xaxis, yaxis, extra_layout, barmode=mode or "group")
        self._put("histogram", title, series, iteration, jsonable({"data": [trace], "layout": layout}))

    report_vector = report_histogram

    def report_line_plot(
        self,
        title: str,
        series: Sequence[SeriesInfo | Mapping[str, Any]],
        xaxis: str | None = None,
        yaxis: str | None = None,
        mode: str = "lines",
        iteration: int | None = None,
        reverse_xaxis: bool = False,
        comment: str | None = None,
        extra_layout: Mapping[str, Any] | None = None,
    ) -> None:
        """Several named lines in one plot; each `SeriesInfo(name, data, labels)`."""
        _require_str("title", title)
        traces = []
        for item in series:
            info = SeriesInfo(**item) if isinstance(item, Mapping) else item
            if not isinstance(info, SeriesInfo):
                raise ValidationError(
                    f"report_line_plot({title!r}): series must be SeriesInfo items, got {type(item).__name__}"
                )
            xs, ys = _xy(info.data, title, info.name)
            trace: dict[str, Any] = {"type": "scatter", "mode": mode, "name": info.name, "x": xs, "y": ys}
            if info.labels is not None:
                trace["text"] = list(info.labels)
            traces.append(trace)
        layout = _layout(title, xaxis, yaxis, extra_layout)
        if reverse_xaxis:
            layout["xaxis"]["autorange"] = "reversed"
        if comment:
            layout["comment"] = comment
        self._put("plot", title, "", iteration, jsonable({"data": traces, "layout": layout}))

    def report_scatter2d(
        self,
        title: str,
        series: str,
        scatter: Any,
        iteration: int | None = None,
        xaxis: str | None = None,
        yaxis: str | None = None,
        labels: Sequence[str] | None = None,
        mode: str = "lines",
        comment: str | None = None,
        extra_layout: Mapping[str, Any] | None = None,
    ) -> None:
        """Points (x, y): a sequence of pairs or an N x 2 array."""
        _require_str("title", title)
        _require_str("series", series)
        xs, ys = _xy(scatter, title, series)
        trace: dict[str, Any] = {"type": "scatter", "mode": mode, "name": series, "x": xs, "y": ys}
        if labels is not None:
            trace["text"] = list(labels)
        layout = _layout(title, xaxis, yaxis, extra_layout)
        if comment:
            layout["comment"] = comment
        self._put("plot", title, series, iteration, jsonable({"data": [trace], "layout": layout}))

    def report_confusion_matrix(
        self,
        title: str,
        series: str,
        matrix: Any,
        iteration: int | None = None,
        xaxis: str | None = None,
        yaxis: str | None = None,
        xlabels: Sequence[str] | None = None,
        ylabels: Sequence[str] | None = None,
        extra_layout: Mapping[str, Any] | None = None,
    ) -> None:
        """A heat map of a 2-D matrix."""
        _require_str("title", title)
        rows = matrix.tolist() if hasattr(matrix, "tolist") else [list(row) for row in matrix]
        trace: dict[str, Any] = {"type": "heatmap", "name": series, "z": rows}
        if xlabels is not None:
            trace["x"] = list(xlabels)
        if ylabels is not None:
            trace["y"] = list(ylabels)
        layout = _layout(title, xaxis, yaxis, extra_layout)
        self._put("plot", title, series, iteration, jsonable({"data": [trace], "layout": layout}))

    def report_matplotlib_figure(
        self,
        title: str,
        series: str,
        figure: Any,
        iteration: int | None = None,
        report_image: bool = False,
        report_interactive: bool = True,
    ) -> None:
        """A matplotlib figure (or the `pyplot` module: its current figure): a PNG image event,
        plus an interactive plot of its lines when `report_interactive` and not `report_image`."""
        from ductwork.sdk.capture import matplotlib as mpl_capture

        _require_str("title", title)
        _require_str("series", series)
        figure = mpl_capture.as_figure(figure)
        png = mpl_capture.render_png(figure)
        self._report_png(title, series, iteration, png, {"source": "matplotlib"})
        if report_interactive and not report_image:
            plot = mpl_capture.to_plotly(figure)
            if plot is not None:
                self._put("plot", title, series, iteration, plot)

    def report_image(
        self,
        title: str,
        series: str,
        iteration: int | None = None,
        local_path: str | None = None,
        image: Any = None,
        matrix: Any = None,
        max_image_history: int | None = None,
        delete_after_upload: bool = False,
        url: str | None = None,
    ) -> None:
        """An image from a file, a PIL image, a numpy array (`image` or `matrix`) or a URL."""
        _require_str("title", title)
        _require_str("series", series)
        given = [
            name
            for name, value in (
                ("local_path", local_path),
                ("image", image),
                ("matrix", matrix),
                ("url", url),
            )
            if value is not None
        ]
        if len(given) != 1:
            raise ValidationError(
                f"report_image({title!r}, {series!r}): give exactly one of local_path, image, matrix, url"
            )
        if url is not None:
            self._put("image", title, series, iteration, {"url": url})
            return
        if local_path is not None:
            data, extension = _read_image_file(local_path, title, series)
            if delete_after_upload:
                os.unlink(local_path)
        else:
            data, extension = _encode_png(image if image is not None else matrix, title, series), ".png"
        self._report_png(title, series, iteration, data, {"source": "report_image"}, extension)

    # ---- flushing and settings

    def flush(self, wait: bool = False) -> None:
        """Send reported events now; `wait=True` blocks until they (and pending images) are stored."""
        if wait:
            self._task._uploads.wait()
            self._events.flush()
            self._task._channels.console.flush()
        else:
            self._events.kick()

    def set_default_upload_destination(self, uri: str) -> None:
        """Where images go (default: the task's `output_uri`, else the default artifact storage)."""
        _require_str("uri", uri)
        self._upload_uri = uri

    def get_default_upload_destination(self) -> str | None:
        return self._upload_uri or self._task.output_uri

    # ---- internals

    def _put(self, kind: str, title: str, series: str, iteration: int | None, payload: Any) -> None:
        step = 0 if iteration is None else _iteration(iteration)
        self._events.put(MetricEvent(self._task_id, kind, title, series, step, None, payload))

    def _report_png(
        self,
        title: str,
        series: str,
        iteration: int | None,
        data: bytes,
        extra: dict[str, Any],
        extension: str = ".png",
    ) -> None:
        step = self._next_image_step(title, series) if iteration is None else _iteration(iteration)
        name = f"image {_slug(title)}/{_slug(series)}/{step}"
        task_id, destination, events = self._task_id, self.get_default_upload_destination(), self._events
        backend = self._task._backend

        def upload() -> None:
            from ductwork.sdk.artifact import save_artifact_bytes

            record = save_artifact_bytes(
                backend,
                task_id,
                destination,
                name,
                data,
                serialization_function=bytes,
                extension_name=extension,
            )
            payload = {"artifact": to_dict(record), "content_type": _IMAGE_TYPES.get(extension, ""), **extra}
            events.put(MetricEvent(task_id, "image", title, series, step, None, payload))

        self._task._uploads.submit(name, upload, f"image {title!r}/{series!r} (iteration {step})")

    def _next_image_step(self, title: str, series: str) -> int:
        key = (title, series)
        step = self._image_counts.get(key, 0)
        self._image_counts[key] = step + 1
        return step


_IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif"}


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _require_str(what: str, value: Any) -> None:
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be a str, got {type(value).__name__} ({value!r})")
    if "\x00" in value:  # PostgreSQL text cannot hold it; refused here rather than lost later
        raise ValidationError(f"{what} {value!r} contains a NUL character")


def _number(what: str, value: Any, title: str, series: str) -> float:
    if isinstance(value, (str, bytes)) or value is None:
        raise ValidationError(
            f"{title}/{series}: {what} must be a number, got {type(value).__name__} ({value!r})"
        )
    try:
        return float(value)
    except OverflowError:
        raise ValidationError(f"{title}/{series}: {what} {value!r} is too large for a 64-bit float") from None
    except (TypeError, ValueError):
        raise ValidationError(
            f"{title}/{series}: {what} must be a number, got {type(value).__name__} ({value!r})"
        ) from None


def _numbers(values: Any, what: str, title: str, series: str) -> list[float]:
    if hasattr(values, "tolist"):
        values = values.tolist()
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ValidationError(f"{title}/{series}: {what} must be a sequence of numbers")
    return [_number(what, value, title, series) for value in values]


def _iteration(iteration: Any) -> int:
    if isinstance(iteration, bool):
        raise ValidationError(f"iteration must be an int, got bool ({iteration!r})")
    if isinstance(iteration, float) and iteration.is_integer():
        number = int(iteration)
    else:
        try:
            number = int(iteration.__index__())
        except (AttributeError, TypeError):
            raise ValidationError(
                f"iteration must be an int, got {type(iteration).__name__} ({iteration!r})"
            ) from None
    if not _INT64_MIN <= number <= _INT64_MAX:
        raise ValidationError(f"iteration {number} is outside the 64-bit range")
    return number


def _xy(data: Any, title: str, series: str) -> tuple[list[Any], list[Any]]:
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


def _layout(
    title: str, xaxis: str | None, yaxis: str | None, extra: Mapping[str, Any] | None, **more: Any
) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "title": {"text": title},
        "xaxis": {"title": {"text": xaxis or ""}},
        "yaxis": {"title": {"text": yaxis or ""}},
        **more,
    }
    layout.update(extra or {})
    return layout


def _table_of(table: Any, title: str) -> tuple[list[str], list[list[Any]]]:
    module = type(table).__module__
    if module.split(".")[0] == "pandas" and hasattr(table, "itertuples"):
        return _frame_table(table)
    if isinstance(table, Sequence) and not isinstance(table, (str, bytes)) and table:
        rows = [list(row) for row in table]
        return [str(cell) for cell in rows[0]], jsonable(rows[1:])
    raise ValidationError(
        f"report_table({title!r}): table_plot must be a pandas DataFrame or a list of rows, "
        f"got {type(table).__name__}"
    )


def _frame_table(frame: Any) -> tuple[list[str], list[list[Any]]]:
    import pandas as pd

    keep_index = not isinstance(frame.index, pd.RangeIndex) or frame.index.name is not None
    columns = [str(c) for c in frame.columns]
    if keep_index:
        columns = [str(frame.index.name or ""), *columns]
    rows = [list(row) for row in frame.itertuples(index=keep_index, name=None)]
    return columns, jsonable(rows)


def _read_csv(location: str, title: str) -> tuple[list[str], list[list[Any]]]:
    from ductwork.artifacts import locations

    try:
        if locations.is_remote(location):
            import fsspec

            with fsspec.open(location, "rt", encoding="utf-8", newline="") as remote:
                text = remote.read()
        else:
            with open(locations.local_path(location), encoding="utf-8", newline="") as local:
                text = local.read()
    except OSError as exc:
        raise ValidationError(f"report_table({title!r}): cannot read CSV {location!r}: {exc}") from exc
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise ValidationError(f"report_table({title!r}): CSV {location!r} is empty")
    return rows[0], [[_csv_cell(cell) for cell in row] for row in rows[1:]]


def _csv_cell(cell: str) -> Any:
    for kind in (int, float):
        try:
            return kind(cell)
        except ValueError:
            pass
    return cell


def _read_image_file(path: str, title: str, series: str) -> tuple[bytes, str]:
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise ValidationError(
            f"report_image({title!r}, {series!r}): cannot read {path!r}: {exc.strerror}"
        ) from exc
    return data, os.path.splitext(path)[1].lower() or ".png"


def _encode_png(image: Any, title: str, series: str) -> bytes:
    try:
        from PIL import Image
    except ImportError as exc:
        raise ValidationError(
            f"report_image({title!r}, {series!r}): needs Pillow (pip install pillow)"
        ) from exc
    if not isinstance(image, Image.Image):
        import numpy as np

        array = np.asarray(image)
        if array.dtype != np.uint8:
            low, high = float(array.min()), float(array.max())
            scale = 255.0 / (high - low) if high > low else 0.0
            array = ((array - low) * scale).astype(np.uint8)
        try:
            image = Image.fromarray(array)
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                f"report_image({title!r}, {series!r}): cannot make an image of shape {array.shape}: {exc}"
            ) from exc
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _slug(text: str) -> str:
    return re.sub(r"[^\w.\-]+", "_", text).strip("_")[:80] or "_"


def jsonable(value: Any) -> Any:
    """A copy of `value` made of JSON types only: numpy values unwrapped, NaN/inf as None,
    tuples as lists, anything else as its str."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return jsonable(value.tolist())
    if hasattr(value, "item"):
        try:
            return jsonable(value.item())
        except (TypeError, ValueError):
            pass
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
