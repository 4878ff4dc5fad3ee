"""The plain-SQL store reads and writes values exactly as the SQLAlchemy tables do: rows written
through `tables.py` (SQLAlchemy Core, as the store did before it ran on DB-API) read back the
same through the store, and rows the store writes read back the same through `tables.py`. JSON
columns (text on SQLite, jsonb on PostgreSQL), booleans and nulls included, on both databases."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from ductwork.core.queries import TaskQuery
from ductwork.core.records import ModelRecord, Project, TaskRecord, Worker
from ductwork.store import Store, tables

_RUNTIME = {"cache_key": "ck", "n": 3, "x": 1.5, "flag": True, "nested": {"a": [1, None, "b"]}}


@pytest.fixture
def engine(store: Store) -> Iterator[sa.Engine]:
    url = store.url.replace("postgresql://", "postgresql+psycopg://", 1)
    created = sa.create_engine(url)
    yield created
    created.dispose()


def _task(**values: Any) -> TaskRecord:
    defaults: dict[str, Any] = {
        "name": "t",
        "tags": ["a", "b"],
        "system_tags": ["archived"],
        "script": {"code": "print('é')", "lines": [1, 2]},
        "requirements": {},
        "container": {"image": None},
        "runtime": _RUNTIME,
        "archived": True,
        "output_uri": None,
    }
    return TaskRecord(**{**defaults, **values})


def test_rows_written_by_sqlalchemy_read_back_the_same(store: Store, engine: sa.Engine) -> None:
    task = _task()
    row = dataclasses.asdict(task) | {"cache_key": "ck"}
    model = ModelRecord(name="m", tags=["x"], labels={"cat": 1}, published=True)
    with engine.begin() as conn:
        conn.execute(sa.insert(tables.tasks), row)
        conn.execute(sa.insert(tables.models), dataclasses.asdict(model))
        conn.execute(
            sa.insert(tables.projects),
            {"id": "p" * 32, "name": "proj", "system_tags": ["hidden"], "created": 1.0, "description": ""},
        )
    assert store.get_task(task.id) == task
    assert store.get_model(model.id) == model
    assert store.get_project("p" * 32) == Project("p" * 32, "proj", ["hidden"], 1.0, "")
    assert [
        t.id for t in store.query_tasks(TaskQuery(runtime={"n": 3, "flag": True, "x": 1.5}, archived=True))
    ] == [task.id]
    assert store.query_tasks(TaskQuery(runtime={"flag": False}, archived=None)) == []
    assert [t.id for t in store.query_tasks(TaskQuery(tags=["a"], archived=True))] == [task.id]
    assert store.find_cached("ck") is None  # archived
    assert [m.id for m in store.query_models(tags=["x"])] == [model.id]


def test_rows_the_store_writes_read_back_the_same_through_the_tables(store: Store, engine: sa.Engine) -> None:
    task = store.create_task(_task(archived=False))
    model = store.put_model(ModelRecord(name="m", tags=["x"], labels={"cat": 1}, published=False))
    store.register_worker(Worker("w", ["q1", "q2"], started=1.0, heartbeat=2.0, host="h", pid=1))
    with engine.connect() as conn:
        stored = conn.execute(sa.select(*(tables.tasks.c[f.name] for f in dataclasses.fields(TaskRecord))))
        assert TaskRecord(*stored.one()) == task
        assert conn.execute(sa.select(tables.tasks.c.cache_key)).scalar() == "ck"
        stored = conn.execute(sa.select(*(tables.models.c[f.name] for f in dataclasses.fields(ModelRecord))))
        assert ModelRecord(*stored.one()) == model
        assert conn.execute(sa.select(tables.workers.c.queues)).scalar() == ["q1", "q2"]


def test_many_binds_rows_by_position_as_they_would_be_by_name(store: Store) -> None:
    """`Conn.many` binds each row's values in the order of the statement's names: a name used
    twice, a literal `%` (doubled for psycopg), one name, none, and a row without one of the
    names, which the driver refuses naming it (bound by name as before)."""
    with store.database.write() as conn:
        conn.execute("CREATE TEMPORARY TABLE many_t (a TEXT, b TEXT, c TEXT)")
        conn.many(
            "INSERT INTO many_t (a, b, c) VALUES (:b, :a || '%' || :a, :c)",
            [{"a": "x", "b": "y", "c": None}, {"c": "3", "b": "2", "a": "1", "extra": 0}],
        )
        conn.many("INSERT INTO many_t (a) VALUES (:only)", [{"only": "o"}])
        conn.many("INSERT INTO many_t (a) VALUES ('n')", [{}, {}])
        rows = conn.rows("SELECT a, b, c FROM many_t ORDER BY a")
    blank = ("n", None, None)
    assert rows == [("2", "1%1", "3"), blank, blank, ("o", None, None), ("y", "x%x", None)]
    with pytest.raises(Exception) as refused, store.database.write() as conn:
        conn.execute("CREATE TEMPORARY TABLE many_u (a TEXT, b TEXT)")
        conn.many("INSERT INTO many_u (a, b) VALUES (:a, :b)", [{"a": "1", "b": "2"}, {"a": "3"}])
    assert "parameter missing: b" in str(refused.value) or "parameter :b" in str(refused.value)
