"""Runs side by side: their arguments, their own and their steps' last metrics, scalar series.

Steps are matched by name across the runs: `train / loss` holds each run's `train` step's
last `loss`, blank where that run has no such step or metric. Only the first `STEP_LIMIT`
steps with a task of each run are read (a 10,000-step fan-out is compared on its charts, not
in a table of 10,000 rows).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ductwork.core import runformat
from ductwork.core.records import TaskRecord
from ductwork.server.services.views.common import (
    Reader,
    display_value,
    last_metrics,
)
from ductwork.server.services.views.runs import pipeline_steps
from ductwork.server.services.views.series import Series, scalar_charts

STEP_LIMIT = 200  # steps with a task read per run for the step metrics table


@dataclass
class Comparison:
    tasks: list[TaskRecord]
    params: list[tuple[str, list[str], bool]]  # key, value per task, differs
    metrics: list[tuple[str, list[float | None]]]
    step_metrics: list[tuple[str, str, list[float | None], bool]]  # step, metric, per run, differs
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
        tasks=tasks,
        params=params,
        metrics=metrics,
        step_metrics=step_metrics(store, tasks),
        charts=[(t, charts[t]) for t in sorted(charts)],
    )


def step_metrics(store: Reader, tasks: list[TaskRecord]) -> list[tuple[str, str, list[float | None], bool]]:
    """Each step's last metrics, one row per (step, metric), in the first run's step order."""
    per_run: list[dict[tuple[str, str], float]] = []
    order: dict[tuple[str, str], None] = {}
    for task in tasks:
        found: dict[tuple[str, str], float] = {}
        if runformat.is_run(task):
            steps = [(n, s.task_id) for n, s in pipeline_steps(store, task).items() if s.task_id]
            for name, task_id in steps[:STEP_LIMIT]:
                for metric, value in last_metrics(store, str(task_id)).items():
                    found[(name, metric)] = value
                    order.setdefault((name, metric))
        per_run.append(found)
    rows = []
    for key in order:
        values = [found.get(key) for found in per_run]
        rows.append((key[0], key[1], values, len(set(values)) > 1))
    return rows
