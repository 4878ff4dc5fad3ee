"""A task's scalars (downsampled for charts), plots and console."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ductwork.core.queries import EventQuery
from ductwork.core.records import (
    ConsoleLine,
    MetricEvent,
)
from ductwork.server.services.views.common import (
    MAX_POINTS,
    Reader,
)


@dataclass
class Series:
    name: str
    iterations: list[float]
    times: list[float]
    values: list[float]
    points: int  # before downsampling


@dataclass
class ScalarChart:
    title: str
    series: list[Series]


def scalar_charts(store: Reader, task_id: str, *, max_points: int = MAX_POINTS) -> list[ScalarChart]:
    """Scalars grouped by title, each series ordered by iteration and downsampled for drawing."""
    grouped: dict[str, dict[str, list[MetricEvent]]] = {}
    for event in store.get_events(EventQuery(task_id, kind="scalar")):
        if event.value is None or not math.isfinite(event.value):
            continue
        grouped.setdefault(event.title, {}).setdefault(event.series or event.title, []).append(event)
    charts = []
    for title in sorted(grouped):
        series = []
        for name, events in sorted(grouped[title].items()):
            events.sort(key=lambda e: (e.iteration, e.ts))
            keep = lttb([(float(e.iteration), float(e.value or 0.0)) for e in events], max_points)
            series.append(
                Series(
                    name=name,
                    iterations=[float(events[i].iteration) for i in keep],
                    times=[events[i].ts for i in keep],
                    values=[float(events[i].value or 0.0) for i in keep],
                    points=len(events),
                )
            )
        charts.append(ScalarChart(title=title, series=series))
    return charts


def lttb(points: Sequence[tuple[float, float]], threshold: int) -> list[int]:
    """Indexes of the points Largest-Triangle-Three-Buckets keeps (Steinarsson 2013).

    Keeps the first and last points and, from each of `threshold - 2` buckets, the point spanning
    the largest triangle with the previous kept point and the next bucket's mean: the shape of the
    line survives, including its spikes, in a fixed number of points.
    """
    n = len(points)
    if threshold >= n or threshold < 3:
        return list(range(n))
    kept = [0]
    every = (n - 2) / (threshold - 2)
    a = 0
    for bucket in range(threshold - 2):
        start = int(bucket * every) + 1
        end = int((bucket + 1) * every) + 1
        next_end = min(int((bucket + 2) * every) + 1, n)
        span = points[end:next_end] or points[n - 1 :]
        mean_x = sum(p[0] for p in span) / len(span)
        mean_y = sum(p[1] for p in span) / len(span)
        ax, ay = points[a]
        best, best_area = start, -1.0
        for i in range(start, end):
            x, y = points[i]
            area = abs((ax - mean_x) * (y - ay) - (ax - x) * (mean_y - ay))
            if area > best_area:
                best, best_area = i, area
        kept.append(best)
        a = best
    kept.append(n - 1)
    return kept


@dataclass
class Plot:
    title: str
    series: str
    iteration: int
    kind: str  # "plot" (a plotly figure), "image" (a stored picture or a URL) or "table" (columns, rows)
    payload: Any
    index: int  # position among the task's events of this kind (how an image is fetched)


def plots(store: Reader, task_id: str) -> list[Plot]:
    """The last plot of each title/series (older iterations are history, not the picture)."""
    latest: dict[tuple[str, str], Plot] = {}
    for kind in ("plot", "image", "table"):
        for index, event in enumerate(store.get_events(EventQuery(task_id, kind=kind))):
            key = (event.title, event.series)
            held = latest.get(key)
            if held is None or event.iteration >= held.iteration:
                latest[key] = Plot(event.title, event.series, event.iteration, kind, event.payload, index)
    return [latest[k] for k in sorted(latest)]


def console_page(store: Reader, task_id: str, *, after: int = 0, limit: int = 5000) -> list[ConsoleLine]:
    return store.get_console(task_id, after=after, limit=limit)
