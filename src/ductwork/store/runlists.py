"""The reads behind a pipeline's runs table, each one query however many runs there are.

The table shows a pipeline's newest runs with their `Args` and last metric values as columns,
under a header that counts all its runs by status. Read task by task, a pipeline of 10,000
runs cost 10,000 task records for the header and two queries per row; here the header is one
aggregate and the columns one query each for all rows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ductwork.core.records import TaskRecord
from ductwork.store import tasks
from ductwork.store.schema import TABLES
from ductwork.store.sql import Conn, in_list

ARGS = "Args"  # core.runformat.ARGS: the section of a run's arguments
_RUNS = "project = :project AND type = :type AND archived = :archived AND {pipeline}"


def _runs(
    conn: Conn, project_id: str, controller_type: str, tag: str, archived: bool
) -> tuple[str, dict[str, Any]]:
    """The WHERE of a pipeline's runs and its parameters. On SQLite the tag is found in the JSON
    text (`"tag"` with its quotes is exactly one list element: json.dumps escapes any quote
    inside a tag), a string search instead of a json_each per row; jsonb's @> on PostgreSQL."""
    params: dict[str, Any] = {"project": project_id, "type": controller_type, "archived": archived}
    if conn.pg:
        params["tag"] = conn.tag_param(tag)
        return _RUNS.format(pipeline=conn.has_tag("system_tags", "tag")), params
    params["tag"] = json.dumps(tag)
    return _RUNS.format(pipeline="instr(system_tags, :tag) > 0"), params


def newest(
    conn: Conn, project_id: str, controller_type: str, tag: str, *, archived: bool, limit: int
) -> list[TaskRecord]:
    """The pipeline's `limit` newest runs (by creation), newest first. Ids first, then the
    records: sorting whole rows (scripts, runtimes) cost twice as much as sorting ids."""
    where, params = _runs(conn, project_id, controller_type, tag, archived)
    text = f"SELECT id FROM tasks WHERE {where} ORDER BY created DESC, id DESC LIMIT {int(limit)}"
    return tasks.get_many(conn, [row[0] for row in conn.rows(text, params)])


@dataclass
class RunCounts:
    """A pipeline's runs at a glance: how many by stored status, the latest start, the tags."""

    by_status: dict[str, int] = field(default_factory=dict)
    last_run: float | None = None
    tags: list[str] = field(default_factory=list)


def counts(conn: Conn, project_id: str, controller_type: str, pipeline_tag: str) -> RunCounts:
    """The runs of the pipeline project `project_id` (controllers tagged `pipeline_tag`, not
    archived), in one pass: few distinct tag lists however many runs, so grouping by status and
    tags is about as many groups as by status alone (JSON text on SQLite, jsonb on PostgreSQL)."""
    where, params = _runs(conn, project_id, controller_type, pipeline_tag, False)
    result = RunCounts()
    text = (
        "SELECT status, tags, count(*), max(coalesce(started, created)) "
        f"FROM tasks WHERE {where} GROUP BY status, tags"
    )
    for status, tags, count, last in conn.rows(text, params):
        result.by_status[status] = result.by_status.get(status, 0) + int(count)
        result.last_run = max(result.last_run or 0.0, last) if last is not None else result.last_run
        for tag in json.loads(tags) if isinstance(tags, str) else tags or []:
            if tag not in result.tags:
                result.tags.append(tag)
    return result


def args(conn: Conn, task_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Each task's `Args/*` values by name (JSON-decoded), one query for all the tasks."""
    found: dict[str, dict[str, Any]] = {task_id: {} for task_id in task_ids}
    if not task_ids:
        return found
    params: dict[str, Any] = {"section": ARGS}
    ids = in_list("task", task_ids, params)
    text = f"SELECT task_id, name, value FROM params WHERE section = :section AND task_id IN {ids}"
    for task_id, name, value in conn.rows(text, params):
        found[task_id][name] = json.loads(value)
    return found


def last_metrics(conn: Conn, task_ids: Sequence[str]) -> dict[str, dict[str, float]] | None:
    """Each task's last value of every scalar series and single value, as `title/series` (or
    `title` when the series is the title): a scalar's value at its highest iteration, the
    last written on a tie; single values win over a scalar of the same name. One query: each
    series' last value is one seek down the chunks' (series_id, last_iteration) index (a chunk
    keeps its own last value: store/chunks.py). None on a schema
    without metric series (events holding their names): the caller reads run by run."""
    if "series" not in TABLES:
        return None
    found: dict[str, dict[str, float]] = {task_id: {} for task_id in task_ids}
    if not task_ids:
        return found
    text, params = last_metrics_query(conn, list(found))
    for task_id, _kind, title, series, value in conn.rows(text, params):  # scalars, then singles
        if value is not None:
            found[task_id][title if not series or series == title else f"{title}/{series}"] = value
    return found


_LAST_VALUE = (
    "(SELECT c.last_value FROM chunks c WHERE c.series_id = s.id AND c.last_value IS NOT NULL "
    "ORDER BY c.last_iteration DESC, c.id DESC LIMIT 1)"
)
_METRICS = "kind IN ('scalar', 'single')"


def last_metrics_query(conn: Conn, task_ids: Sequence[str]) -> tuple[str, dict[str, Any]]:
    """The query of `last_metrics` (distinct `task_ids`) and its parameters.

    SQLite walks its unique (task_id, kind, title, series) index for the IN list, and that
    index holds each row's id (the rowid) too. On PostgreSQL an IN list of 200 ids was a
    sequential scan of every series, each row compared with each id (5-8 ms at 10,000 runs,
    growing with all the series stored); here the ids are one array parameter and each is one
    seek down that index, which holds the id as well since migration 0008, so no row is read
    from the table. The lateral subquery (`OFFSET 0` keeps it one) is what makes it a seek per
    id: as a plain join, the planner hashes the whole table whenever it has not vacuumed it
    lately (visibility unknown, so an index-only scan looks no cheaper)."""
    if not conn.pg:
        params: dict[str, Any] = {}
        ids = in_list("task", task_ids, params)
        return (
            f"SELECT s.task_id, s.kind, s.title, s.series, {_LAST_VALUE} FROM series s "
            f"WHERE s.task_id IN {ids} AND s.{_METRICS} ORDER BY s.kind, s.id"
        ), params
    return (
        f"SELECT s.task_id, s.kind, s.title, s.series, {_LAST_VALUE} "
        "FROM unnest(CAST(:tasks AS text[])) AS t(id) CROSS JOIN LATERAL "
        "(SELECT x.id, x.task_id, x.kind, x.title, x.series FROM series x "
        f"WHERE x.task_id = t.id AND x.{_METRICS} OFFSET 0) s ORDER BY s.kind, s.id"
    ), {"tasks": list(task_ids)}
