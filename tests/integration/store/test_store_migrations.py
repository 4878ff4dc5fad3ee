"""The migration chain: from empty on both dialects, matches the tables, cheap when current; a new
SQLite database made from the frozen script (`migrate.FROZEN`) instead is the chain's head."""

from __future__ import annotations

import math
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from ductwork.core.errors import StorageError
from ductwork.core.queries import EventQuery
from ductwork.core.records import MetricEvent, TaskRecord
from ductwork.store import Store, migrate
from ductwork.store.tables import metadata

SRC = str(Path(__file__).resolve().parents[3] / "src")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh' / 'new.db'}"
        return
    server = request.getfixturevalue("pg_server")
    schema = f"ductwork_mig_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = sa.make_url(server).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def test_head_constant_is_the_chain_head() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_heads() == [migrate.HEAD]


def test_first_use_migrates_from_empty(empty_url: str) -> None:
    store = Store(empty_url)
    try:
        task = store.create_task(TaskRecord(name="first"))
        assert store.get_task(task.id).name == "first"
        assert migrate.current(store.database) == migrate.HEAD
    finally:
        store.close()
    assert migrate.upgrade(empty_url) == migrate.HEAD  # idempotent


def test_migrated_schema_matches_the_tables(empty_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    migrate.upgrade(empty_url)
    engine = sa.create_engine(empty_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    finally:
        engine.dispose()
    assert diff == []


@pytest.mark.parametrize("made", ["current", "new"])
def test_opening_a_current_or_new_sqlite_store_does_not_import_alembic(tmp_path: Path, made: str) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    if made == "current":
        migrate.upgrade(url)
    code = (
        "import sys; from ductwork.store import Store; s = Store(sys.argv[1]); s.list_queues(); "
        "print(sorted({'alembic', 'sqlalchemy'} & set(sys.modules)))"
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    command = [sys.executable, "-c", code, url]
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"
    assert migrate.current(Store(url, migrate_schema=False).database) == migrate.HEAD


# SQLite only, by nature: the frozen script is SQLite's schema, and PostgreSQL always runs the chain.


def _by_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opening a new SQLite store runs the Alembic chain, as it did before the frozen script."""
    monkeypatch.setattr(migrate, "_create_fresh", lambda db: False)


def _never_by_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(db: object) -> None:
        raise AssertionError("a new SQLite store ran the Alembic chain")

    monkeypatch.setattr(migrate, "_upgrade", refused)


def _file_state(path: Path) -> dict[str, object]:
    """What a SQLite file holds besides rows: its schema in creation order, its version, the
    pragmas kept in the file, and the files beside it."""
    with sqlite3.connect(path) as raw:
        schema = raw.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid").fetchall()
        version = raw.execute("SELECT version_num FROM alembic_version").fetchall()
        pragmas = {
            name: raw.execute(f"PRAGMA {name}").fetchone()[0]
            for name in (
                "journal_mode",
                "page_size",
                "auto_vacuum",
                "encoding",
                "user_version",
                "application_id",
            )
        }
        checks = (
            raw.execute("PRAGMA integrity_check").fetchall()
            + raw.execute("PRAGMA foreign_key_check").fetchall()
        )
    raw.close()
    beside = sorted(p.name for p in path.parent.iterdir())
    return {"schema": schema, "version": version, "pragmas": pragmas, "checks": checks, "beside": beside}


def test_a_new_sqlite_store_from_the_frozen_script_is_the_chains_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        _by_chain(patch)
        Store(f"sqlite:///{tmp_path / 'chain' / 'ductwork.db'}").close()
    _never_by_chain(monkeypatch)
    Store(f"sqlite:///{tmp_path / 'frozen' / 'ductwork.db'}").close()
    chain, frozen = (_file_state(tmp_path / name / "ductwork.db") for name in ("chain", "frozen"))
    assert frozen == chain
    assert chain["version"] == [(migrate.HEAD,)] and chain["pragmas"]["journal_mode"] == "wal"
    assert chain["checks"] == [("ok",)] and "ductwork.db.reserve" in chain["beside"]
    assert len(chain["schema"]) > 40  # type: ignore[arg-type]  # every table and index is there


def test_a_new_in_memory_store_is_made_from_the_frozen_script(monkeypatch: pytest.MonkeyPatch) -> None:
    _never_by_chain(monkeypatch)
    store = Store("sqlite://")
    try:
        assert store.get_task(store.create_task(TaskRecord(name="in memory")).id).name == "in memory"
        with store.database.read() as conn:
            schema = conn.rows("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid")
    finally:
        store.close()
    with sqlite3.connect(":memory:") as raw:
        for statement in migrate.statements(migrate.FROZEN.read_text(encoding="utf-8")):
            raw.execute(statement)
        assert (
            schema
            == raw.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid").fetchall()
        )
    raw.close()


def test_the_frozen_script_is_what_the_chain_makes_now() -> None:
    # Adding a migration without regenerating the script fails here.
    frozen = migrate.FROZEN.read_text(encoding="utf-8")
    assert frozen == migrate.freeze(), (
        f"{migrate.FROZEN.name} is not the schema the migration chain makes at {migrate.HEAD}: "
        f"regenerate it with `{migrate.REGENERATE}` (from the repository root) and commit it"
    )


def test_the_frozen_script_failing_midway_leaves_the_database_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    statements = list(migrate.statements(migrate.FROZEN.read_text(encoding="utf-8")))
    half = len(statements) // 2
    broken = tmp_path / "broken.sql"
    broken.write_text("\n".join([*statements[:half], "CREATE TABLE projects (id TEXT);", *statements[half:]]))
    monkeypatch.setattr(migrate, "FROZEN", broken)
    _never_by_chain(monkeypatch)
    path = tmp_path / "store" / "ductwork.db"
    with pytest.raises(StorageError, match="projects already exists") as failure:
        Store(f"sqlite:///{path}")
    assert str(path) in str(failure.value)  # the store's usual wording: which store failed
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)
    raw.close()
    monkeypatch.undo()
    store = Store(f"sqlite:///{path}")  # the next open makes it whole
    try:
        assert migrate.current(store.database) == migrate.HEAD
    finally:
        store.close()


def test_statements_are_split_whole() -> None:
    script = (
        "-- a comment\n\nCREATE TABLE t (a TEXT DEFAULT ';');\n"
        "CREATE TRIGGER g AFTER INSERT ON t BEGIN\n  UPDATE t SET a = 'x;';\n  DELETE FROM t;\nEND;\n"
        "INSERT INTO t VALUES ('--');\n"
    )
    assert list(migrate.statements(script)) == [
        "CREATE TABLE t (a TEXT DEFAULT ';');",
        "CREATE TRIGGER g AFTER INSERT ON t BEGIN\n  UPDATE t SET a = 'x;';\n  DELETE FROM t;\nEND;",
        "INSERT INTO t VALUES ('--');",
    ]
    with pytest.raises(ValueError, match="ends inside a statement"):
        list(migrate.statements("CREATE TABLE t (a TEXT"))


def test_a_newer_schema_is_refused_clearly(sqlite_url: str) -> None:
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    engine.dispose()
    with pytest.raises(StorageError, match="newer ductwork"):
        Store(sqlite_url)


def _open_and_write(url: str) -> str:
    store = Store(url)
    try:
        return store.create_task(TaskRecord(name="racer")).id
    finally:
        store.close()


def test_concurrent_first_use_migrates_once(empty_url: str) -> None:
    with ProcessPoolExecutor(4) as pool:
        ids = list(pool.map(_open_and_write, [empty_url] * 4))
    assert len(set(ids)) == 4
    store = Store(empty_url)
    try:
        assert {t.id for t in store.get_tasks(ids)} == set(ids)
    finally:
        store.close()


def _upgrade_to(url: str, revision: str) -> sa.Engine:
    from alembic import command
    from alembic.config import Config

    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS))
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    return engine


def test_events_of_an_older_store_move_to_their_series(empty_url: str) -> None:
    # Revision 0004 gives each (task, kind, title, series) an id and drops the four strings from
    # the event rows: events written before it read back the same (order, NaN, payloads).
    engine = _upgrade_to(empty_url, "0003")
    task = TaskRecord(name="old")
    nan = "NaN" if engine.dialect.name == "sqlite" else None  # how the old store wrote a NaN
    old_rows = [
        (task.id, "scalar", "loss", "train", 1, 0.5, None, 1.0),
        (task.id, "scalar", "loss", "valid", 0, 0.25, None, 2.0),
        (task.id, "scalar", "loss", "train", 0, 1.0 if nan is None else None, nan, 3.0),
        (task.id, "plot", "fig", "f", 0, None, '{"data": []}', 4.0),
    ]
    with engine.begin() as conn:
        _old_task(conn, task)
        for values in old_rows:
            conn.execute(
                sa.text(
                    "INSERT INTO events (task_id, kind, title, series, iteration, value, payload, ts) "
                    "VALUES (:t, :k, :ti, :s, :i, :v, :p, :ts)"
                ),
                dict(zip(("t", "k", "ti", "s", "i", "v", "p", "ts"), values, strict=True)),
            )
    engine.dispose()
    store = Store(empty_url)  # migrates to the head
    try:
        events = store.get_events(EventQuery(task.id))
        assert [(e.title, e.series, e.iteration, e.ts) for e in events] == [
            ("loss", "valid", 0, 2.0),  # by iteration, then in the order written
            ("loss", "train", 0, 3.0),
            ("fig", "f", 0, 4.0),
            ("loss", "train", 1, 1.0),
        ]
        assert events[2].payload == {"data": []} and events[3].value == 0.5
        if nan is not None:
            assert events[1].value != events[1].value  # NaN, as it was reported
        store.add_events([MetricEvent(task.id, "scalar", "loss", "train", 2, 0.125)])
        train = store.get_events(EventQuery(task.id, title="loss", series="train"))
        assert [e.iteration for e in train] == [0, 1, 2]
        assert migrate.current(store.database) == migrate.HEAD
    finally:
        store.close()


def _old_task(conn: sa.Connection, task: TaskRecord) -> None:
    row = {f: getattr(task, f) for f in ("id", "name", "type", "status", "created", "updated")}
    conn.execute(
        sa.text(
            "INSERT INTO tasks (id, name, type, status, status_message, status_reason, created, updated, "
            'tags, system_tags, comment, "user", script, requirements, container, runtime, archived, '
            "progress) VALUES (:id, :name, :type, :status, '', '', :created, :updated, '[]', '[]', '', "
            "'', '{}', '{}', '{}', '{}', false, 0)"
        ),
        row,
    )


def test_events_of_a_0004_store_move_into_chunks_and_back(empty_url: str) -> None:
    # Revision 0005 packs each run of consecutive points of one series into a chunk: what 0004
    # held reads back the same (order across series, NaN, +-inf, None, payloads), the runs list
    # finds the same last values, and the downgrade gives 0004's rows back.
    from alembic import command
    from alembic.config import Config

    from ductwork.store import runlists

    engine = _upgrade_to(empty_url, "0004")
    sqlite = engine.dialect.name == "sqlite"
    nan = (None, "NaN") if sqlite else (math.nan, None)  # how 0004 wrote a NaN
    task = TaskRecord(name="old")
    names = [("scalar", "loss", "train"), ("scalar", "loss", "valid"), ("plot", "fig", "f")]
    points = [
        (1, 0, 1.0, None, 1.0),
        (1, 1, 0.5, None, 2.0),
        (2, 1, 0.25, None, 3.0),
        (1, 1, *nan, 4.0),
        (3, 0, None, '{"data": [1.5]}', 5.0),
        (2, 2, *nan, 6.0),
        (1, 0, -math.inf, None, 7.0),
    ]
    with engine.begin() as conn:
        _old_task(conn, task)
        for i, (kind, title, series) in enumerate(names, start=1):
            conn.execute(
                sa.text("INSERT INTO series (id, task_id, kind, title, series) VALUES (:i, :t, :k, :ti, :s)"),
                {"i": i, "t": task.id, "k": kind, "ti": title, "s": series},
            )
        for values in points:
            conn.execute(
                sa.text(
                    "INSERT INTO events (series_id, iteration, value, payload, ts) VALUES (:s, :i, :v, "
                    + (":p" if sqlite else "CAST(:p AS jsonb)")
                    + ", :ts)"
                ),
                dict(zip(("s", "i", "v", "p", "ts"), values, strict=True)),
            )
        old = conn.execute(sa.text("SELECT * FROM events ORDER BY id")).all()
    engine.dispose()
    store = Store(empty_url)  # migrates to the head
    try:
        events = store.get_events(EventQuery(task.id))
        assert [e.ts for e in events] == [1.0, 5.0, 7.0, 2.0, 3.0, 4.0, 6.0]  # by iteration, as written
        assert events[1].payload == {"data": [1.5]} and events[1].value is None
        assert events[2].value == -math.inf and events[3].value == 0.5
        assert all(math.isnan(events[i].value or 0.0) and events[i].payload is None for i in (5, 6))
        with store.database.read() as conn:
            last = runlists.last_metrics(conn, [task.id])
        assert last is not None
        assert last[task.id]["loss/train"] == 0.5 if sqlite else math.isnan(last[task.id]["loss/train"])
        assert last[task.id]["loss/valid"] == 0.25 if sqlite else math.isnan(last[task.id]["loss/valid"])
    finally:
        store.close()
    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS))
    engine = sa.create_engine(empty_url)
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0004")
        with engine.connect() as conn:
            back = conn.execute(sa.text("SELECT * FROM events ORDER BY id")).all()
    finally:
        engine.dispose()
    same = [(r.series_id, r.iteration, r.value, r.payload, r.ts) for r in back]
    before = [(r.series_id, r.iteration, r.value, r.payload, r.ts) for r in old]
    assert repr(same) == repr(before)  # repr: NaN equals NaN there


def test_series_of_a_0007_store_keep_their_ids_and_their_unique_key(empty_url: str) -> None:
    # Revision 0008 puts the id in PostgreSQL's unique (task_id, kind, title, series) index
    # (INCLUDE: not part of the key); SQLite's already holds the rowid. A series keeps its id and
    # a second series of the same name is still refused.
    engine = _upgrade_to(empty_url, "0007")
    insert = sa.text(
        "INSERT INTO series (id, task_id, kind, title, series) VALUES (:id, 't', 'scalar', 'loss', 'x')"
    )
    with engine.begin() as conn:
        conn.execute(insert, {"id": 7})
    engine.dispose()
    assert migrate.upgrade(empty_url) == migrate.HEAD
    engine = sa.create_engine(empty_url)
    try:
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                found = conn.execute(
                    sa.text(  # this test's schema: others run beside it in the same database
                        "SELECT indexdef FROM pg_indexes"
                        " WHERE indexname = :key AND schemaname = current_schema()"
                    ),
                    {"key": "uq_series_task_id_kind_title_series"},
                )
                definition = found.scalar_one()
            assert definition.endswith("(task_id, kind, title, series) INCLUDE (id)"), definition
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(insert, {"id": 8})
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT id, task_id FROM series")).all() == [(7, "t")]
    finally:
        engine.dispose()
