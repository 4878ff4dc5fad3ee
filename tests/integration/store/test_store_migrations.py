"""The migration chain: from empty on both dialects, matches the tables, cheap when current."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from ductwork.core.errors import StorageError
from ductwork.core.records import TaskRecord
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


def test_opening_a_current_store_does_not_import_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    migrate.upgrade(url)
    code = (
        "import sys; from ductwork.store import Store; s = Store(sys.argv[1]); s.list_queues(); "
        "print('alembic' in sys.modules)"
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    command = [sys.executable, "-c", code, url]
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "False"


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
