"""Pipelines and the table of a pipeline's runs."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ductwork.core import runformat
from ductwork.core.display import status_word
from ductwork.core.errors import NotFound
from ductwork.core.queries import TaskQuery
from ductwork.core.records import (
    TaskRecord,
)
from ductwork.server.services.views.common import (
    Reader,
    display_value,
    duration,
    last_metrics,
    one_read,
    run_status,
)

RUNS_PAGE = 200  # the newest runs a pipeline's table reads


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
    with one_read(store):
        return _runs_table(store, project_id, sort, descending, status, search, archived)


def _runs_table(
    store: Reader, project_id: str, sort: str, descending: bool, status: str, search: str, archived: bool
) -> RunsTable:
    pipeline = pipeline_summary(store, project_id)
    query = TaskQuery(
        project=project_id,
        type=[runformat.CONTROLLER_TYPE],
        system_tags=[runformat.PIPELINE_TAG],
        archived=archived,
        order_by="-created",
        limit=RUNS_PAGE,
    )
    runs = _newest(store, project_id, archived) or store.query_tasks(query)
    # The newest RUNS_PAGE runs are sorted and filtered here; the count says how many exist.
    if len(runs) < RUNS_PAGE:
        total = len(runs)
    elif not archived and getattr(store, "database", None) is not None:
        total = pipeline.runs  # the header counted them already, with the same filter
    else:
        total = store.count_tasks(replace(query, limit=None))
    needle = search.lower().strip()
    columns = _columns(store, [run.id for run in runs])
    rows = [row for run in runs if (row := _run_row(store, run, status, needle, columns)) is not None]
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


def _newest(store: Reader, project_id: str, archived: bool) -> list[TaskRecord]:
    """The RUNS_PAGE newest runs in one narrow query (store/runlists.py); [] for a reader
    without the store's database (or no runs: the caller's query then finds none either)."""
    database = getattr(store, "database", None)
    if database is None:
        return []
    from ductwork.store import runlists

    with database.read() as conn:
        return runlists.newest(
            conn,
            project_id,
            runformat.CONTROLLER_TYPE,
            runformat.PIPELINE_TAG,
            archived=archived,
            limit=RUNS_PAGE,
        )


# run id -> its args, and its metrics (None: each row reads its own)
Columns = tuple[dict[str, dict[str, Any]], dict[str, dict[str, float]] | None]


def _columns(store: Reader, run_ids: list[str]) -> Columns | None:
    """Every row's `Args` values and last metrics in two queries (store/runlists.py), or None for
    a reader without the store's database (each row then reads its own)."""
    database = getattr(store, "database", None)
    if database is None:
        return None
    from ductwork.store import runlists

    with database.read() as conn:
        return runlists.args(conn, run_ids), runlists.last_metrics(conn, run_ids)


def _run_row(
    store: Reader,
    run: TaskRecord,
    status: str,
    needle: str,
    columns: Columns | None = None,
) -> RunRow | None:
    """The run's row, or None when the status filter or the search leaves it out."""
    row_status = run_status(run)
    if status and row_status != status:
        return None
    if columns is not None:
        args = {name: display_value(value) for name, value in columns[0][run.id].items()}
    else:
        args = {
            name: display_value(p.value)
            for name, p in runformat.args_of(store.get_parameters(run.id)).items()
        }
    text = " ".join([run.name, run.user, *run.tags, *args.values()]).lower()
    if needle and needle not in text:
        return None
    return RunRow(
        task=run,
        status=row_status,
        version=runformat.version_of(run),
        duration=duration(run.started, run.ended),
        args=args,
        metrics=columns[1][run.id] if columns and columns[1] is not None else last_metrics(store, run.id),
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


def pipeline_named(store: Reader, project_id: str) -> PipelineSummary:
    """The pipeline whose runs project is `project_id`, by name only (its runs not counted:
    a run's page shows where it belongs, and counting 10,000 runs costs milliseconds)."""
    project = store.get_project(project_id)
    split = runformat.split_runs_project(project.name)
    if split is None:
        raise NotFound(f"project {project.name!r} holds no pipeline")
    return PipelineSummary(project_id=project_id, project=split[0], name=split[1])


def pipeline_summary(store: Reader, project_id: str) -> PipelineSummary:
    summary = pipeline_named(store, project_id)
    database = getattr(store, "database", None)
    if database is not None:  # one aggregate, not every run's record (store/runlists.py)
        from ductwork.store import runlists

        with database.read() as conn:
            counts = runlists.counts(conn, project_id, runformat.CONTROLLER_TYPE, runformat.PIPELINE_TAG)
        for stored, count in counts.by_status.items():
            word = status_word(stored)
            summary.by_status[word] = summary.by_status.get(word, 0) + count
            summary.runs += count
        summary.last_run, summary.tags = counts.last_run, counts.tags
        return summary
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
