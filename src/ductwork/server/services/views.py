"""Read models for the web pages: what each page shows, gathered from the store in few queries.

Pages never talk to the store themselves; they ask for a view here and render it. Every view is a
plain dataclass so templates stay dumb and tests can check the numbers without parsing HTML.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from ductwork.core import runformat
from ductwork.core.errors import NotFound
from ductwork.core.queries import EventQuery, TaskQuery
from ductwork.core.records import (
    ArtifactRecord,
    ConfigObject,
    ConsoleLine,
    MetricEvent,
    ModelRecord,
    NodeState,
    Param,
    Project,
    Queue,
    QueueEntry,
    TaskModel,
    TaskRecord,
    Worker,
)

RUN_STATUSES = ("draft", "pending", "running", "completed", "failed", "aborted")
NODE_STATUSES = ("pending", "queued", "running", "completed", "failed", "cached", "skipped", "aborted")
MAX_POINTS = 2000  # per scalar series sent to a chart; enough for any screen width
RUNS_PAGE = 200


class Reader(Protocol):
    """The part of the store (`ductwork.store.Store`) the pages read."""

    def list_projects(self) -> list[Project]: ...
    def get_project(self, project_id: str) -> Project: ...
    def find_project(self, name: str) -> Project | None: ...
    def get_task(self, task_id: str) -> TaskRecord: ...
    def get_tasks(self, task_ids: Sequence[str]) -> list[TaskRecord]: ...
    def query_tasks(self, query: TaskQuery) -> list[TaskRecord]: ...
    def count_tasks(self, query: TaskQuery) -> int: ...
    def get_parameters(self, task_id: str) -> dict[str, Param]: ...
    def get_configurations(self, task_id: str) -> dict[str, ConfigObject]: ...
    def get_artifacts(self, task_id: str) -> list[ArtifactRecord]: ...
    def get_model(self, model_id: str) -> ModelRecord: ...
    def get_task_models(self, task_id: str) -> list[TaskModel]: ...
    def get_events(self, query: EventQuery) -> list[MetricEvent]: ...
    def get_console(self, task_id: str, *, after: int = 0, limit: int | None = None) -> list[ConsoleLine]: ...
    def get_nodes(self, run_id: str) -> list[NodeState]: ...
    def list_queues(self) -> list[Queue]: ...
    def queue_entries(self, queue: str) -> list[QueueEntry]: ...
    def list_workers(self) -> list[Worker]: ...


def run_status(task: TaskRecord) -> str:
    """A controller task's status in the words of the runs table."""
    return {
        "created": "draft",
        "queued": "pending",
        "in_progress": "running",
        "completed": "completed",
        "published": "completed",
        "failed": "failed",
        "stopped": "aborted",
    }.get(task.status, task.status)


def duration(started: float | None, ended: float | None, *, at: float | None = None) -> float | None:
    """Seconds from start to end, or to `at` (now) while still running."""
    if started is None:
        return None
    return max(0.0, (ended if ended is not None else (at or time.time())) - started)


# --- pipelines ----------------------------------------------------------------------------------------


@dataclass
class PipelineSummary:
    project_id: str  # the hidden `<project>/.pipelines/<name>` project holding its runs
    project: str  # the user's project
    name: str
    last_run: float | None = None
    runs: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)


def list_pipelines(store: Reader, *, search: str = "") -> list[PipelineSummary]:
    """Every pipeline with its last run time and runs counted by status, newest activity first."""
    by_project: dict[str, PipelineSummary] = {}
    for project in store.list_projects():
        split = runformat.split_runs_project(project.name)
        if split is not None:
            by_project[project.id] = PipelineSummary(project_id=project.id, project=split[0], name=split[1])
    runs = store.query_tasks(
        TaskQuery(type=[runformat.CONTROLLER_TYPE], system_tags=[runformat.PIPELINE_TAG], order_by="-created")
    )
    for run in runs:
        summary = by_project.get(run.project or "")
        if summary is not None:
            _count_run(summary, run)
    needle = search.lower().strip()
    found = [s for s in by_project.values() if not needle or needle in f"{s.project}/{s.name}".lower()]
    return sorted(found, key=lambda s: (-(s.last_run or 0.0), s.project, s.name))


@dataclass
class RunRow:
    task: TaskRecord
    status: str
    version: str
    duration: float | None
    args: dict[str, str]
    metrics: dict[str, float]


@dataclass
class RunsTable:
    pipeline: PipelineSummary
    rows: list[RunRow]
    arg_columns: list[str]
    metric_columns: list[str]
    sort: str
    descending: bool
    status: str
    search: str
    total: int
    latest_run_id: str | None  # NEW RUN pre-fills from the newest run
    page: int  # how many of the newest runs the table reads


_SORT_KEYS = {"run", "version", "status", "user", "started", "duration"}


def runs_table(
    store: Reader,
    project_id: str,
    *,
    sort: str = "started",
    descending: bool = True,
    status: str = "",
    search: str = "",
    archived: bool = False,
) -> RunsTable:
    """A pipeline's runs with their `Args` and last metric values as columns, sorted and filtered."""
    pipeline = pipeline_summary(store, project_id)
    query = TaskQuery(
        project=project_id,
        type=[runformat.CONTROLLER_TYPE],
        system_tags=[runformat.PIPELINE_TAG],
        archived=archived,
        order_by="-created",
        limit=RUNS_PAGE,
    )
    runs = store.query_tasks(query)
    # The newest RUNS_PAGE runs are sorted and filtered here; the count says how many exist.
    total = len(runs) if len(runs) < RUNS_PAGE else store.count_tasks(replace(query, limit=None))
    needle = search.lower().strip()
    rows: list[RunRow] = []
    for run in runs:
        row_status = run_status(run)
        if status and row_status != status:
            continue
        args = {
            name: display_value(p.value)
            for name, p in runformat.args_of(store.get_parameters(run.id)).items()
        }
        text = " ".join([run.name, run.user, *run.tags, *args.values()]).lower()
        if needle and needle not in text:
            continue
        rows.append(
            RunRow(
                task=run,
                status=row_status,
                version=runformat.version_of(run),
                duration=duration(run.started, run.ended),
                args=args,
                metrics=last_metrics(store, run.id),
            )
        )
    sort = sort if sort in _SORT_KEYS or sort.startswith(("arg:", "metric:")) else "started"
    rows.sort(key=lambda r: _sort_key(r, sort), reverse=descending)
    return RunsTable(
        pipeline=pipeline,
        rows=rows,
        arg_columns=sorted({k for r in rows for k in r.args}),
        metric_columns=sorted({k for r in rows for k in r.metrics}),
        sort=sort,
        descending=descending,
        status=status,
        search=search,
        total=total,
        latest_run_id=runs[0].id if runs else None,
        page=RUNS_PAGE,
    )


def _sort_key(row: RunRow, sort: str) -> tuple[int, Any]:
    """Missing values sort last in either direction's reading; numbers compare as numbers."""
    value: Any
    if sort.startswith("arg:"):
        value = row.args.get(sort[4:])
    elif sort.startswith("metric:"):
        value = row.metrics.get(sort[7:])
    else:
        value = {
            "run": row.task.name,
            "version": row.version,
            "status": row.status,
            "user": row.task.user,
            "started": row.task.started or row.task.created,
            "duration": row.duration,
        }[sort]
    if value is None or value == "":
        return (0, "")
    if isinstance(value, str):
        try:
            return (2, float(value))
        except ValueError:
            return (1, value.lower())
    return (2, float(value))


def pipeline_summary(store: Reader, project_id: str) -> PipelineSummary:
    project = store.get_project(project_id)
    split = runformat.split_runs_project(project.name)
    if split is None:
        raise NotFound(f"project {project.name!r} holds no pipeline")
    summary = PipelineSummary(project_id=project_id, project=split[0], name=split[1])
    query = TaskQuery(
        project=project_id, type=[runformat.CONTROLLER_TYPE], system_tags=[runformat.PIPELINE_TAG]
    )
    for run in store.query_tasks(query):
        _count_run(summary, run)
    return summary


def _count_run(summary: PipelineSummary, run: TaskRecord) -> None:
    summary.runs += 1
    status = run_status(run)
    summary.by_status[status] = summary.by_status.get(status, 0) + 1
    summary.last_run = max(summary.last_run or 0.0, run.started or run.created)
    summary.tags.extend(t for t in run.tags if t not in summary.tags)


def last_metrics(store: Reader, task_id: str) -> dict[str, float]:
    """`title/series` -> the last reported value: single values, then each scalar series' last point."""
    values: dict[str, float] = {}
    for event in store.get_events(EventQuery(task_id=task_id, kind="scalar")):
        if event.value is not None:
            values[_metric_name(event)] = event.value
    for event in store.get_events(EventQuery(task_id=task_id, kind="single")):
        if event.value is not None:
            values[_metric_name(event)] = event.value
    return values


def _metric_name(event: MetricEvent) -> str:
    if not event.series or event.series == event.title:
        return event.title
    return f"{event.title}/{event.series}"


def display_value(value: Any) -> str:
    """A parameter value as a person reads and edits it: strings bare, everything else as JSON."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


# --- a run and its DAG --------------------------------------------------------------------------------


@dataclass
class StepInfo:
    """What the `Pipeline` configuration says about a step, with its live state on top."""

    name: str
    parents: list[str]
    status: str = "pending"
    task_id: str | None = None
    started: float | None = None
    ended: float | None = None
    attempt: int = 0
    stage: str = ""
    queue: str = ""
    cache_key: str = ""
    cache_note: str = ""
    message: str = ""

    @property
    def cache_reason(self) -> str:
        """Why the cache hit or missed, without the "cache hit:" lead the badge already says."""
        head, sep, rest = self.cache_note.partition(":")
        if sep and head.strip().lower() in ("cache hit", "cache miss"):
            return rest.strip()
        return self.cache_note


@dataclass
class RunView:
    task: TaskRecord
    status: str
    version: str
    pipeline: PipelineSummary | None
    args: dict[str, Param]
    steps: dict[str, StepInfo]
    counts: dict[str, int]


def pipeline_steps(store: Reader, run: TaskRecord) -> dict[str, StepInfo]:
    """The run's steps in the order they were added: the DAG from `Pipeline`, states from the nodes.

    Only the node table says what happened in *this* run. The `Pipeline` configuration of a run
    made by NEW RUN or a clone still carries the statuses and task ids of the run it was copied
    from, so it gives the shape (parents, stage, queue) and nothing else: a step without a node
    state is pending.
    """
    steps: dict[str, StepInfo] = {}
    config = store.get_configurations(run.id).get(runformat.DAG_CONFIG)
    if config is not None:
        for name, node in runformat.read_dag(config.text).items():
            steps[name] = _step_from_config(name, node)
    for state in store.get_nodes(run.id):
        step = steps.setdefault(state.name, StepInfo(name=state.name, parents=[]))
        step.status = state.status if state.status in NODE_STATUSES else "pending"
        step.task_id = state.task_id
        step.started = state.started
        step.ended = state.ended
        step.attempt = state.attempt
        step.cache_key = state.cache_key
        step.cache_note = state.cache_note
        step.message = state.message
    return steps


def _step_from_config(name: str, node: dict[str, object]) -> StepInfo:
    parents = node.get("parents") or []
    return StepInfo(
        name=name,
        parents=[str(p) for p in parents] if isinstance(parents, list) else [],
        stage=str(node.get("stage") or ""),
        queue=str(node.get("queue") or ""),
    )


def run_view(store: Reader, run_id: str) -> RunView:
    task = store.get_task(run_id)
    steps = pipeline_steps(store, task)
    counts = Counter(s.status for s in steps.values())
    pipeline = None
    if task.project:
        try:
            pipeline = pipeline_summary(store, task.project)
        except NotFound:
            pipeline = None
    params = store.get_parameters(run_id)
    return RunView(
        task=task,
        status=run_status(task),
        version=runformat.version_of(task),
        pipeline=pipeline,
        args=runformat.args_of(params),
        steps=steps,
        counts={s: counts.get(s, 0) for s in NODE_STATUSES},
    )


def node_states_payload(steps: dict[str, StepInfo]) -> dict[str, Any]:
    """Live state per step in columns, the shape the canvas applies in one pass."""
    return {
        "names": list(steps),
        "status": [s.status for s in steps.values()],
        "started": [s.started for s in steps.values()],
        "ended": [s.ended for s in steps.values()],
        "task": [s.task_id for s in steps.values()],
        "now": time.time(),
    }


# --- all tasks ----------------------------------------------------------------------------------------


@dataclass
class TasksTable:
    tasks: list[TaskRecord]
    project_names: dict[str, str]  # project id -> full name, for the tasks shown
    projects: list[Project]  # what the project filter offers: every project but pipelines' own
    project: str
    status: str
    search: str
    limit: int


TASKS_PAGE = 200


def tasks_table(
    store: Reader, *, project: str = "", status: str = "", search: str = "", limit: int = TASKS_PAGE
) -> TasksTable:
    """The newest tasks of any kind (scripts, steps, controllers), filtered, newest first."""
    projects = store.list_projects()
    names = {p.id: p.name for p in projects}
    query = TaskQuery(
        project=project or None,
        status=[status] if status else None,
        name_pattern=_literal_pattern(search) if search.strip() else None,
        order_by="-created",
        limit=limit,
    )
    tasks = store.query_tasks(query)
    return TasksTable(
        tasks=tasks,
        project_names={t.project: names.get(t.project, "") for t in tasks if t.project},
        projects=sorted(
            (p for p in projects if f"/{runformat.PIPELINES_FOLDER}" not in f"/{p.name}"),
            key=lambda p: p.name,
        ),
        project=project,
        status=status,
        search=search,
        limit=limit,
    )


def _literal_pattern(text: str) -> str:
    """A case-insensitive regex that matches `text` literally anywhere in a name."""
    import re

    return f"(?i){re.escape(text.strip())}"


# --- one task -----------------------------------------------------------------------------------------


@dataclass
class ModelView:
    role: str
    name: str
    model: ModelRecord | None


@dataclass
class TaskView:
    task: TaskRecord
    project: Project | None
    params: dict[str, dict[str, Param]]  # section -> name -> Param
    configs: dict[str, ConfigObject]
    artifacts: list[ArtifactRecord]
    models: list[ModelView]
    single_values: dict[str, float]
    plot_titles: list[str]
    has_scalars: bool
    code: str


def task_view(store: Reader, task_id: str) -> TaskView:
    task = store.get_task(task_id)
    project = None
    if task.project:
        try:
            project = store.get_project(task.project)
        except NotFound:
            project = None
    params: dict[str, dict[str, Param]] = {}
    for key, param in sorted(store.get_parameters(task_id).items()):
        section, _, name = key.partition("/")
        params.setdefault(section, {})[name or section] = param
    models = []
    for link in store.get_task_models(task_id):
        try:
            model: ModelRecord | None = store.get_model(link.model_id)
        except NotFound:
            model = None
        models.append(ModelView(role=link.role, name=link.name or (model.name if model else ""), model=model))
    singles = {_metric_name(e): e.value for e in store.get_events(EventQuery(task_id, kind="single"))}
    plots = store.get_events(EventQuery(task_id, kind="plot")) + store.get_events(
        EventQuery(task_id, kind="image")
    )
    return TaskView(
        task=task,
        project=project,
        params=params,
        configs=store.get_configurations(task_id),
        artifacts=store.get_artifacts(task_id),
        models=models,
        single_values={k: v for k, v in singles.items() if v is not None},
        plot_titles=sorted({e.title for e in plots}),
        # One row tells whether there are any; the charts read the series themselves.
        has_scalars=bool(store.get_events(EventQuery(task_id, kind="scalar", limit=1))),
        code=str(task.script.get("code") or task.script.get("diff") or ""),
    )


def step_code(store: Reader, run: TaskRecord | None, task: TaskRecord) -> str:
    """A step's readable code: its own script, else the run's configuration section named after it."""
    code = task.script.get("code") or task.script.get("diff")
    if code:
        return str(code)
    if run is not None:
        section = store.get_configurations(run.id).get(task.name)
        if section is not None:
            return section.text
    return ""


# --- scalars, plots, console --------------------------------------------------------------------------


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


# --- queues and workers -------------------------------------------------------------------------------


@dataclass
class QueueRow:
    queue: Queue
    length: int
    workers: list[str]


@dataclass
class WorkerRow:
    worker: Worker
    task: TaskRecord | None
    seconds_since_heartbeat: float


def queues_view(store: Reader) -> tuple[list[QueueRow], list[WorkerRow]]:
    workers = store.list_workers()
    queues = [
        QueueRow(
            queue=q,
            length=len(store.queue_entries(q.name)),
            workers=[w.id for w in workers if q.name in w.queues],
        )
        for q in sorted(store.list_queues(), key=lambda q: q.name)
    ]
    busy = {t.id: t for t in store.get_tasks([w.task_id for w in workers if w.task_id])}
    now = time.time()
    rows = [
        WorkerRow(
            worker=w, task=busy.get(w.task_id or ""), seconds_since_heartbeat=max(0.0, now - w.heartbeat)
        )
        for w in sorted(workers, key=lambda w: w.id)
    ]
    return queues, rows


# --- comparing runs -----------------------------------------------------------------------------------


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
