"""`Logger`: scalars, single values, tables, plots, images and text of a task.

Every report becomes a `MetricEvent` appended to the process's batched metric writer
(`ductwork.sdk.channels`); a writer thread sends them in bulk, so `report_scalar` costs a few
microseconds and never waits for the store. Images are stored as artifacts-style blobs by the
task's background uploads and then reported as `image` events pointing at them.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from ductwork.core.errors import ValidationError
from ductwork.core.records import ConsoleLine, MetricEvent, to_dict
from ductwork.sdk import current, images, media, plots, reported, tables
from ductwork.sdk.artifact import save_artifact_bytes
from ductwork.sdk.capture import figures
from ductwork.sdk.capture.console import original_stdout
from ductwork.sdk.reported import jsonable
from ductwork.sdk.taskcore import TaskCore

_now = time.time


class SeriesInfo(NamedTuple):
    """One line of `report_line_plot`: `data` is a sequence of (x, y) pairs or an N x 2 array."""

    name: str
    data: object
    labels: Sequence[str] | None = None


class Logger:
    """The reporting side of a task; get it with `task.get_logger()` or `Logger.current_logger()`."""

    def __init__(self, task: TaskCore) -> None:
        self._task = task
        self._task_id = task.id
        self._events = task._channels.events
        self._upload_uri: str | None = None
        self._image_counts: dict[tuple[str, str], int] = {}

    @classmethod
    def of(cls, task: TaskCore) -> Logger:
        """The one logger of `task` (`task.get_logger()`)."""
        return task._part(Logger, Logger)

    @classmethod
    def current_logger(cls) -> Logger:
        """The logger of the current task (see `Task.current_task`)."""
        task = current.get()
        if task is None:
            raise ValidationError("Logger.current_logger(): there is no current task; call Task.init() first")
        return cls.of(task)

    # ---- scalars and values

    def report_scalar(self, title: str, series: str, value: float, iteration: int) -> None:
        """One point of a series. NaN and +-inf are stored as they are; an iteration outside
        the 64-bit range or a NUL character in a name is refused here (ValueError)."""
        if type(title) is not str or type(series) is not str or "\x00" in title or "\x00" in series:
            reported.require_str("title", title)
            reported.require_str("series", series)
        if type(value) is not float:
            value = reported.number("value", value, title, series)
        if type(iteration) is not int or not reported.INT64_MIN <= iteration <= reported.INT64_MAX:
            iteration = reported.iteration(iteration)
        self._events.put((self._task_id, "scalar", title, series, iteration, value, None, _now()))

    def report_single_value(self, name: str, value: float) -> None:
        """A value with no history (accuracy of the final model...), shown in the task's summary."""
        reported.require_str("name", name)
        number = reported.number("value", value, "Summary", name)
        self._events.put(MetricEvent(self._task_id, "single", "Summary", name, 0, number))

    def report_text(self, msg: object, level: int = logging.INFO, print_console: bool = True) -> None:
        """A line in the task's console log (and on this process's stdout when `print_console`)."""
        if not isinstance(level, int):
            raise ValidationError(f"report_text: level must be an int logging level, got {level!r}")
        text = str(msg)
        if level != logging.INFO:
            text = f"{logging.getLevelName(level)}: {text}"
        if print_console:
            print(text, file=original_stdout())
        lines = [ConsoleLine(self._task_id, line, "ductwork") for line in text.split("\n")]
        self._task._channels.console.put_many(lines)

    # ---- tables and plots

    def report_table(
        self,
        title: str,
        series: str,
        iteration: int | None = None,
        table_plot: object = None,
        csv: str | None = None,
        url: str | None = None,
        extra_layout: Mapping[str, object] | None = None,
        extra_data: Mapping[str, object] | None = None,
    ) -> None:
        """A table from a pandas DataFrame, a list of rows (first row: the header), or a CSV file/URL."""
        reported.require_str("title", title)
        reported.require_str("series", series)
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
            columns, rows = tables.table_of(table_plot, title)
        else:
            columns, rows = tables.read_csv(csv or url or "", title)
        payload = {
            "columns": columns,
            "rows": rows,
            "extra_layout": jsonable(extra_layout or {}),
            "extra_data": jsonable(extra_data or {}),
        }
        self._put("table", title, series, iteration, payload)

    def report_plotly(self, title: str, series: str, figure: object, iteration: int | None = None) -> None:
        """A plotly figure (a `plotly.graph_objects.Figure` or its dict form)."""
        reported.require_str("title", title)
        reported.require_str("series", series)
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
        values: Sequence[float] | object,
        iteration: int | None = None,
        labels: Sequence[str] | None = None,
        xlabels: Sequence[str | float] | None = None,
        xaxis: str | None = None,
        yaxis: str | None = None,
        mode: str | None = None,
        data_args: Mapping[str, object] | None = None,
        extra_layout: Mapping[str, object] | None = None,
    ) -> None:
        """A bar chart of `values` (already counted: one bar per value), as ClearML draws it."""
        heights = reported.numbers(values, "values", title, series)
        x: list[str | float] | list[int] = list(xlabels) if xlabels is not None else list(range(len(heights)))
        if len(x) != len(heights):
            raise ValidationError(
                f"report_histogram({title!r}, {series!r}): {len(x)} xlabels for {len(heights)} values"
            )
        trace: dict[str, object] = {"type": "bar", "name": series, "x": x, "y": heights}
        if labels is not None:
            trace["text"] = list(labels)
        trace.update(data_args or {})
        layout = plots.layout(title, xaxis, yaxis, extra_layout, barmode=mode or "group")
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
        extra_layout: Mapping[str, object] | None = None,
    ) -> None:
        """Several named lines in one plot; each `SeriesInfo(name, data, labels)`."""
        reported.require_str("title", title)
        traces = []
        for item in series:
            info = SeriesInfo(**item) if isinstance(item, Mapping) else item
            if not isinstance(info, SeriesInfo):
                raise ValidationError(
                    f"report_line_plot({title!r}): series must be SeriesInfo items, got {type(item).__name__}"
                )
            xs, ys = plots.xy(info.data, title, info.name)
            trace: dict[str, object] = {"type": "scatter", "mode": mode, "name": info.name, "x": xs, "y": ys}
            if info.labels is not None:
                trace["text"] = list(info.labels)
            traces.append(trace)
        layout = plots.layout(title, xaxis, yaxis, extra_layout, reverse_xaxis=reverse_xaxis)
        if comment:
            layout["comment"] = comment
        self._put("plot", title, "", iteration, jsonable({"data": traces, "layout": layout}))

    def report_scatter2d(
        self,
        title: str,
        series: str,
        scatter: object,
        iteration: int | None = None,
        xaxis: str | None = None,
        yaxis: str | None = None,
        labels: Sequence[str] | None = None,
        mode: str = "lines",
        comment: str | None = None,
        extra_layout: Mapping[str, object] | None = None,
    ) -> None:
        """Points (x, y): a sequence of pairs or an N x 2 array."""
        reported.require_str("title", title)
        reported.require_str("series", series)
        xs, ys = plots.xy(scatter, title, series)
        trace: dict[str, object] = {"type": "scatter", "mode": mode, "name": series, "x": xs, "y": ys}
        if labels is not None:
            trace["text"] = list(labels)
        layout = plots.layout(title, xaxis, yaxis, extra_layout)
        if comment:
            layout["comment"] = comment
        self._put("plot", title, series, iteration, jsonable({"data": [trace], "layout": layout}))

    def report_scatter3d(
        self,
        title: str,
        series: str,
        scatter: object,
        iteration: int | None = None,
        xaxis: str | None = None,
        yaxis: str | None = None,
        zaxis: str | None = None,
        labels: Sequence[str] | None = None,
        mode: str = "markers",
        fill: bool = False,
        comment: str | None = None,
        extra_layout: Mapping[str, object] | None = None,
    ) -> None:
        """Points (x, y, z): a sequence of triples or an N x 3 array; `labels` one per point."""
        trace = plots.scatter3d(title, series, scatter, labels, mode, fill)
        self._put_3d(title, series, iteration, trace, plots.Axes(xaxis, yaxis, zaxis), extra_layout, comment)

    def report_surface(
        self,
        title: str,
        series: str,
        matrix: object,
        iteration: int | None = None,
        xaxis: str | None = None,
        yaxis: str | None = None,
        zaxis: str | None = None,
        xlabels: Sequence[str] | None = None,
        ylabels: Sequence[str] | None = None,
        camera: Sequence[float] | None = None,
        comment: str | None = None,
        extra_layout: Mapping[str, object] | None = None,
    ) -> None:
        """A 3-D surface: `matrix[row][column]` is its height at (x = column, y = row);
        `camera` is the (x, y, z) of the viewer's eye."""
        trace = plots.surface(title, series, matrix, xlabels, ylabels)
        axes = plots.Axes(xaxis, yaxis, zaxis)
        self._put_3d(title, series, iteration, trace, axes, extra_layout, comment, camera)

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
        extra_layout: Mapping[str, object] | None = None,
    ) -> None:
        """A heat map of a 2-D matrix."""
        reported.require_str("title", title)
        rows = matrix.tolist() if hasattr(matrix, "tolist") else [list(row) for row in matrix]
        trace: dict[str, object] = {"type": "heatmap", "name": series, "z": rows}
        if xlabels is not None:
            trace["x"] = list(xlabels)
        if ylabels is not None:
            trace["y"] = list(ylabels)
        layout = plots.layout(title, xaxis, yaxis, extra_layout)
        self._put("plot", title, series, iteration, jsonable({"data": [trace], "layout": layout}))

    def report_matplotlib_figure(
        self,
        title: str,
        series: str,
        figure: object,
        iteration: int | None = None,
        report_image: bool = False,
        report_interactive: bool = True,
    ) -> None:
        """A matplotlib figure (or the `pyplot` module: its current figure): a PNG image event,
        plus an interactive plot of its lines when `report_interactive` and not `report_image`."""
        reported.require_str("title", title)
        reported.require_str("series", series)
        figure = figures.as_figure(figure)
        png = figures.render_png(figure)
        self._report_png(title, series, iteration, png, {"source": "matplotlib"})
        if report_interactive and not report_image:
            plot = figures.to_plotly(figure)
            if plot is not None:
                self._put("plot", title, series, iteration, plot)

    def report_image(
        self,
        title: str,
        series: str,
        iteration: int | None = None,
        local_path: str | None = None,
        image: object = None,
        matrix: object = None,
        max_image_history: int | None = None,
        delete_after_upload: bool = False,
        url: str | None = None,
    ) -> None:
        """An image from a file, a PIL image, a numpy array (`image` or `matrix`) or a URL."""
        reported.require_str("title", title)
        reported.require_str("series", series)
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
            data, extension = images.read_image_file(local_path, title, series)
            if delete_after_upload:
                os.unlink(local_path)
        else:
            data, extension = images.encode_png(image if image is not None else matrix, title, series), ".png"
        self._report_png(title, series, iteration, data, {"source": "report_image"}, extension)

    def report_media(
        self,
        title: str,
        series: str,
        iteration: int | None = None,
        local_path: str | None = None,
        stream: object = None,
        file_extension: str | None = None,
        max_history: int | None = None,
        delete_after_upload: bool = False,
        url: str | None = None,
    ) -> None:
        """A debug sample of any media (audio, video, HTML, any file) from a file, a stream
        (bytes or a binary file object, with its `file_extension`) or a URL (recorded, not
        uploaded). It is stored as `report_image` stores pictures, typed by its extension; the
        web UI plays audio and video and links any other file. `max_history` is checked and
        every sample is kept."""
        sample = media.sample(title, series, local_path, stream, file_extension, max_history, url)
        if sample.url is not None:
            self._put(
                "image", title, series, iteration, {"url": sample.url, "content_type": sample.content_type}
            )
            return
        if delete_after_upload and local_path is not None:
            os.unlink(local_path)
        extra: dict[str, object] = {"source": "report_media"}
        self._report_png(title, series, iteration, sample.data, extra, sample.extension, sample.content_type)

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
        reported.require_str("uri", uri)
        self._upload_uri = uri

    def get_default_upload_destination(self) -> str | None:
        return self._upload_uri or self._task.output_uri

    # ---- internals

    def _put(self, kind: str, title: str, series: str, iteration: int | None, payload: object) -> None:
        step = 0 if iteration is None else reported.iteration(iteration)
        self._events.put(MetricEvent(self._task_id, kind, title, series, step, None, payload))

    def _put_3d(
        self,
        title: str,
        series: str,
        iteration: int | None,
        trace: dict[str, object],
        axes: plots.Axes,
        extra_layout: Mapping[str, object] | None,
        comment: str | None,
        camera: Sequence[float] | None = None,
    ) -> None:
        """A plot event of a 3-D `trace` in its layout."""
        reported.require_str("title", title)
        reported.require_str("series", series)
        layout = plots.layout3d(title, axes, extra_layout, camera=camera, comment=comment)
        self._put("plot", title, series, iteration, jsonable({"data": [trace], "layout": layout}))

    def _report_png(
        self,
        title: str,
        series: str,
        iteration: int | None,
        data: bytes,
        extra: dict[str, object],
        extension: str = ".png",
        content_type: str | None = None,
    ) -> None:
        step = self._next_image_step(title, series) if iteration is None else reported.iteration(iteration)
        name = f"image {images.slug(title)}/{images.slug(series)}/{step}"
        task_id, destination, events = self._task_id, self.get_default_upload_destination(), self._events
        backend = self._task._backend
        kind = images.IMAGE_TYPES.get(extension, "") if content_type is None else content_type

        def upload() -> None:
            record = save_artifact_bytes(
                backend,
                task_id,
                destination,
                name,
                data,
                serialization_function=bytes,
                extension_name=extension,
            )
            payload = {
                "artifact": to_dict(record),
                "content_type": kind,
                **extra,
            }
            events.put(MetricEvent(task_id, "image", title, series, step, None, payload))

        self._task._uploads.submit(name, upload, f"image {title!r}/{series!r} (iteration {step})")

    def _next_image_step(self, title: str, series: str) -> int:
        key = (title, series)
        step = self._image_counts.get(key, 0)
        self._image_counts[key] = step + 1
        return step
