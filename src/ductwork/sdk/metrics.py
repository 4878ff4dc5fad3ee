"""`ReportedMetrics`: what a task reported, read back (scalars, single values, console)."""

from __future__ import annotations

from ductwork.core.errors import ValidationError
from ductwork.core.queries import EventQuery
from ductwork.sdk.fields import TaskFields

# One series read back: {"x": iterations (or timestamps), "y": values}.
Points = dict[str, list[float | None]]


class ReportedMetrics(TaskFields):
    def get_reported_scalars(
        self, max_samples: int = 0, x_axis: str = "iter"
    ) -> dict[str, dict[str, Points]]:
        """`{title: {series: {"x": [...], "y": [...]}}}`; `x_axis` "iter" or "timestamp"."""
        if x_axis not in ("iter", "timestamp"):
            raise ValidationError(
                f"get_reported_scalars: x_axis must be 'iter' or 'timestamp', got {x_axis!r}"
            )
        self.flush()
        result: dict[str, dict[str, Points]] = {}
        for event in self._backend.get_events(EventQuery(task_id=self.id, kind="scalar")):
            series = result.setdefault(event.title, {}).setdefault(event.series, {"x": [], "y": []})
            series["x"].append(event.iteration if x_axis == "iter" else event.ts)
            series["y"].append(event.value)
        if max_samples and max_samples > 0:
            for by_series in result.values():
                for name, points in by_series.items():
                    by_series[name] = _downsample(points, max_samples)
        return result

    def get_last_scalar_metrics(self) -> dict[str, dict[str, dict[str, float]]]:
        """`{title: {series: {"last": ..., "min": ..., "max": ...}}}` of every scalar series:
        "last" is the value reported at the highest iteration (the latest of those), "min" and
        "max" leave NaN out (a series of NaN only has NaN for both)."""
        self.flush()
        result: dict[str, dict[str, dict[str, float]]] = {}
        top: dict[tuple[str, str], int] = {}
        for event in self._backend.get_events(EventQuery(task_id=self.id, kind="scalar")):
            if event.value is None:
                continue
            value, key = float(event.value), (event.title, event.series)
            known = result.setdefault(event.title, {}).get(event.series)
            if known is None:
                result[event.title][event.series] = {"last": value, "min": value, "max": value}
                top[key] = event.iteration
                continue
            if event.iteration >= top[key]:
                known["last"], top[key] = value, event.iteration
            if value == value:  # not NaN
                known["min"] = value if known["min"] != known["min"] else min(known["min"], value)
                known["max"] = value if known["max"] != known["max"] else max(known["max"], value)
        return result

    def get_last_iteration(self) -> int:
        """The highest iteration any scalar of the task was reported at (0 before any)."""
        self.flush()
        events = self._backend.get_events(EventQuery(task_id=self.id, kind="scalar"))
        return max((event.iteration for event in events), default=0)

    def get_reported_single_values(self) -> dict[str, float | None]:
        self.flush()
        events = self._backend.get_events(EventQuery(task_id=self.id, kind="single"))
        return {event.series: event.value for event in events}

    def get_reported_console_output(self, number_of_reports: int = 1) -> list[str]:
        """The last console lines of the task (newest last)."""
        self.flush()
        lines = self._backend.get_console(self.id)
        return [line.text for line in lines[-max(1, number_of_reports) * 100 :]]


def _downsample(points: Points, limit: int) -> Points:
    count = len(points["x"])
    if count <= limit:
        return points
    step = count / limit
    picks = sorted({int(i * step) for i in range(limit)} | {count - 1})
    return {"x": [points["x"][i] for i in picks], "y": [points["y"][i] for i in picks]}
