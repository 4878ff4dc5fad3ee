"""store/notify.py: the live feed's change signals and looks, on SQLite and PostgreSQL."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from ductwork.core.records import MetricEvent, NodeState, TaskRecord
from ductwork.store import Store, migrate, notify


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


def test_postgres_announces_an_updated_only_write_by_its_probe(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migration 0007: a write that only bumps a task's `updated` (metrics here) sends no NOTIFY;
    the probe finds it (and a status change still notifies)."""
    if store.dialect != "postgresql":
        return
    task = store.create_task(TaskRecord(name="reporting"))
    source = notify.open_source(str(store.url))
    assert source is not None
    try:
        monkeypatch.setattr(notify, "PROBE_S", 3600.0)  # the probe is not what answers yet
        start = source.look(None).cursor
        before = source.look(start)  # the probe's baseline: the task as created
        assert [t["id"] for t in before.tasks] == [task.id]
        source.wait(0.0)  # whatever came before
        store.add_events([MetricEvent(task.id, "scalar", "loss", "train", 0, 0.5)])
        assert source.wait(0.5) is False  # no notification
        monkeypatch.setattr(notify, "PROBE_S", 0.0)
        assert source.wait(0.0) is True  # the probe: a row above the cursor moved
        after = source.look(start)
        assert after.tasks[0]["updated"] > before.tasks[0]["updated"]
        assert source.wait(0.0) is False  # looked at: nothing new since
        monkeypatch.setattr(notify, "PROBE_S", 3600.0)
        store.set_status(task.id, "in_progress", force=True)
        assert _signalled(source)  # a field the live views show: NOTIFY at once
    finally:
        source.close()


def test_the_notified_fields_are_the_live_views_columns() -> None:
    """The migration's frozen list of columns whose UPDATE notifies is notify.TASK_COLUMNS."""
    path = migrate.MIGRATIONS / "versions" / "0007_notify_on_shown_fields.py"
    spec = importlib.util.spec_from_file_location("migration_0007", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert set(module.SHOWN) == set(notify.TASK_COLUMNS) - {"updated"}


def test_in_memory_and_file_urls() -> None:
    assert notify.sqlite_file("sqlite://") is None
    assert notify.sqlite_file("sqlite:///:memory:") is None
    assert notify.sqlite_file("sqlite:////tmp/a%20b/x.db?mode=ro") == "/tmp/a b/x.db"
    assert notify.sqlite_file("sqlite:///rel/x.db") == "rel/x.db"
