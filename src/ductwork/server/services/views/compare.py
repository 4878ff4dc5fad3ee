"""Runs side by side: their arguments and scalar series."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ductwork.core.records import (
    TaskRecord,
)
from ductwork.server.services.views.common import (
    Reader,
    display_value,
    last_metrics,
)
from ductwork.server.services.views.series import Series, scalar_charts


@dataclass
class Comparison:
    tasks: list[TaskRecord]
    params: list[tuple[str, list[str], bool]]  # key, value per task, differs
    metrics: list[tuple[str, list[float | None]]]
    charts: list[tuple[str, list[tuple[str, Series]]]]  # title -> (task name/series, series)


def compare(store: Reader, task_ids: Iterable[str], *, max_points: int = 500) -> Comparison:
    tasks = store.get_tasks(list(dict.fromkeys(task_ids)))
    values = [
        {k: display_value(p.value) for k, p in store.get_parameters(t.id).items() if not k.startswith("_")}
        for t in tasks
    ]
    keys = sorted({k for v in values for k in v})
    params = []
    for key in keys:
        row = [v.get(key, "") for v in values]
        params.append((key, row, len(set(row)) > 1))
    metrics_by_task = [last_metrics(store, t.id) for t in tasks]
    metric_keys = sorted({k for m in metrics_by_task for k in m})
    metrics = [(k, [m.get(k) for m in metrics_by_task]) for k in metric_keys]
    charts: dict[str, list[tuple[str, Series]]] = {}
    for task in tasks:
        for chart in scalar_charts(store, task.id, max_points=max_points):
            for series in chart.series:
                label = task.name if series.name == chart.title else f"{task.name} {series.name}"
                charts.setdefault(chart.title, []).append((label, series))
    return Comparison(
        tasks=tasks, params=params, metrics=metrics, charts=[(t, charts[t]) for t in sorted(charts)]
    )
