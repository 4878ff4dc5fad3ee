"""store/notify.py: the live feed's change signals and looks, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from ductwork.core.records import NodeState, TaskRecord
from ductwork.store import Store, notify


def test_a_commit_by_another_connection_is_signalled_and_looked_up(store: Store) -> None:
    source = notify.open_source(str(store.url))
    assert source is not None
    try:
        start = source.look(None).cursor
        source.wait(0.0)  # whatever came before
        assert source.wait(0.05) is False  # nothing committed: no signal (and no query ran)
        run = store.create_task(TaskRecord(name="run", type="controller"))
        store.put_nodes([NodeState(run.id, "step", "running")])
        assert _signalled(source)
        found = source.look(start)
        assert [t["id"] for t in found.tasks] == [run.id]
        assert found.tasks[0]["status"] == "created" and set(found.tasks[0]) == set(notify.TASK_COLUMNS)
        assert [(n["run_id"], n["name"], n["status"]) for n in found.nodes] == [(run.id, "step", "running")]
        snapshot = source.snapshot(run.id, None)
        assert [t["id"] for t in snapshot.tasks] == [run.id] and len(snapshot.nodes) == 1
    finally:
        source.close()


def _signalled(source: Any) -> bool:
    return any(source.wait(0.5) for _ in range(10))  # PostgreSQL: NOTIFY arrives after the commit


def test_postgres_signals_name_their_schema(store: Store) -> None:
    """Channels are shared by a whole PostgreSQL database: a store in another schema is not a
    change of this one (on SQLite each file has its own data_version)."""
    if store.dialect != "postgresql":
        return
    import psycopg

    source = notify.open_source(str(store.url))
    assert source is not None
    try:
        source.wait(0.0)
        with psycopg.connect("postgresql://" + str(store.url).partition("://")[2], autocommit=True) as other:
            other.execute("SELECT pg_notify('ductwork_changes', 'elsewhere.tasks')")
        assert source.wait(0.3) is False
    finally:
        source.close()


def test_in_memory_and_file_urls() -> None:
    assert notify.sqlite_file("sqlite://") is None
    assert notify.sqlite_file("sqlite:///:memory:") is None
    assert notify.sqlite_file("sqlite:////tmp/a%20b/x.db?mode=ro") == "/tmp/a b/x.db"
    assert notify.sqlite_file("sqlite:///rel/x.db") == "rel/x.db"
