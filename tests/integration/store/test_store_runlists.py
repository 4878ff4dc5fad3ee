"""store/runlists.py: a pipeline's runs table in a few queries reads what the per-run reads read
(the views' fallback for a reader without the store's database), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from ductwork.core.records import MetricEvent, Param, TaskRecord
from ductwork.server.services import views
from ductwork.store import Store


class Plain:
    """The store's reading methods only: the views read run by run."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        if name == "database":
            raise AttributeError(name)
        return getattr(self._store, name)


def _pipeline(store: Store) -> str:
    project = store.ensure_project("demo/.pipelines/train", system_tags=["pipeline", "hidden"])
    for r in range(5):
        run = store.create_task(
            TaskRecord(
                name=f"run {r}",
                project=project.id,
                type="controller",
                system_tags=["pipeline"],
                tags=[f"t{r % 2}", 'odd "pipeline" tag'],
            )
        )
        store.set_parameters(
            run.id,
            {"Args/rate": Param(r / 10, "float"), "Args/name": Param(f"n{r}", "str"), "General/x": Param(1)},
        )
        events = [MetricEvent(run.id, "scalar", "loss", "train", i, 1 / (1 + i + r)) for i in (0, 2, 1)]
        events += [MetricEvent(run.id, "scalar", "acc", "acc", 5, None)] if r == 1 else []
        events += [MetricEvent(run.id, "single", "accuracy", "accuracy", 0, r / 5)] if r % 2 else []
        if events:
            store.add_events(events)
        if r == 3:
            store.set_status(run.id, "in_progress", force=True)
        if r == 4:
            store.edit_task(run.id, {"archived": True})
    # Not runs: a controller without the pipeline tag, a plain task, a tag that only contains it.
    store.create_task(TaskRecord(name="untagged", project=project.id, type="controller"))
    store.create_task(TaskRecord(name="plain", project=project.id, system_tags=["pipeline"]))
    store.create_task(
        TaskRecord(name="near", project=project.id, type="controller", system_tags=["pipelines"])
    )
    return project.id


def _table(reader: Any, project_id: str, **options: Any) -> Any:
    table = views.runs_table(reader, project_id, **options)
    rows = [(r.task.id, r.status, r.args, r.metrics) for r in table.rows]
    summary = table.pipeline
    return rows, table.total, summary.runs, summary.by_status, summary.last_run, sorted(summary.tags)


def test_the_runs_table_reads_the_same_as_run_by_run(store: Store) -> None:
    project_id = _pipeline(store)
    fast = _table(store, project_id)
    assert fast == _table(Plain(store), project_id)
    rows, total, runs, by_status, _, tags = fast
    assert total == runs == 4 and by_status == {"draft": 3, "running": 1}
    assert tags == ['odd "pipeline" tag', "t0", "t1"]
    metrics = {row[0]: row[3] for row in rows}
    assert {"loss/train": 1 / 3} in metrics.values()  # run 0: iteration 2 is the last
    assert {"loss/train": 1 / 4, "accuracy": 0.2} in metrics.values()  # a null value is no value
    assert _table(store, project_id, archived=True) == _table(Plain(store), project_id, archived=True)


def test_last_metrics_take_ids_as_values_never_as_syntax(store: Store) -> None:
    """The ids travel as one array parameter on PostgreSQL (an IN list on SQLite): an id shaped
    like an array literal, a list or a quoted id names no other run, and a repeated id reads once."""
    from ductwork.store import runlists

    run = store.create_task(TaskRecord(name="r", type="controller"))
    store.add_events([MetricEvent(run.id, "scalar", "loss", "train", i, float(i)) for i in range(3)])
    shaped = [f"x,{run.id}", f"{{{run.id}}}", f'"{run.id}"', f"{{x,{run.id}}}", "NULL", "a\\b", "'"]
    with store.database.read() as conn:
        assert runlists.last_metrics(conn, shaped) == {name: {} for name in shaped}
        repeated = runlists.last_metrics(conn, [run.id, run.id, "NULL"])
        assert repeated == {run.id: {"loss/train": 2.0}, "NULL": {}}
        assert runlists.last_metrics(conn, []) == {}


def test_last_metrics_seek_each_runs_series_in_the_unique_index(store: Store) -> None:
    """A page's series are found down the (task_id, kind, title, series) index, which holds their
    ids (migration 0008 on PostgreSQL, the rowid on SQLite): never a scan of every series."""
    from ductwork.store import runlists

    tasks = [f"{n:032x}" for n in range(2000)]
    rows = [{"task": t, "kind": kind} for t in tasks for kind in ("scalar", "single")]
    insert = "INSERT INTO series (task_id, kind, title, series) VALUES (:task, :kind, 'loss', 'train')"
    with store.database.write() as conn:
        conn.many(insert, rows)
        conn.execute("ANALYZE")
    with store.database.read() as conn:
        text, params = runlists.last_metrics_query(conn, tasks[:200])
        if conn.pg:
            plan = "\n".join(row[0] for row in conn.rows("EXPLAIN " + text, params))
            assert "Index Only Scan using uq_series_task_id_kind_title_series on series" in plan, plan
        else:
            plan = "\n".join(str(row[-1]) for row in conn.rows("EXPLAIN QUERY PLAN " + text, params))
            assert "USING COVERING INDEX sqlite_autoindex_series_1" in plan, plan
        assert "Seq Scan on series" not in plan and "SCAN s" not in plan, plan
