"""Shared fixtures.

* `ductwork_home`: an isolated `$DUCTWORK_HOME` (and no server / pipe / task from the
  environment); the process-wide backend is forgotten afterwards.
* `store_url` / `store`: a fresh, migrated, empty store, once on SQLite and once on
  PostgreSQL (parametrized; the PostgreSQL case carries the `postgres` marker).
* `sqlite_store`: the SQLite case alone, for tests that do not need both.
* `machines` / `module_machines`: separate machines (server, agents, clients) for remote
  tests, each process in its own mount namespace (tests/machines.py).
* `pg_url`: a PostgreSQL URL whose search_path is a schema private to this test session
  (dropped at the end). Without a reachable server the PostgreSQL tests skip locally and
  FAIL under `CI=true`, so CI can never pass by not testing PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ductwork.store import Store
    from machines import Machines

# No test traffic leaves loopback: botocore, finding no credentials, would ask the cloud's
# metadata address (169.254.169.254) for some; every process the tests start inherits this.
os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")

PG_SERVER = os.environ.get("DUCTWORK_TEST_PG", "postgresql+psycopg://{user}@127.0.0.1:5432/test")
_ENV_CLEARED = (
    "DUCTWORK_DB_URL",
    "DUCTWORK_API_URL",
    "DUCTWORK_API_KEY",
    "DUCTWORK_PIPE",
    "DUCTWORK_TASK_ID",
    "DUCTWORK_ARTIFACTS_URI",
)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture
def ductwork_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private `$DUCTWORK_HOME`; the embedded store there is created on first use."""
    home = tmp_path / "ductwork-home"
    monkeypatch.setenv("DUCTWORK_HOME", str(home))
    for name in _ENV_CLEARED:
        monkeypatch.delenv(name, raising=False)
    yield home
    from ductwork import client

    client.use(None)


# ---- PostgreSQL ----------------------------------------------------------------------------


def _pg_server_url() -> str | None:
    """The first of the usual roles the local server accepts, or None when unreachable."""
    import sqlalchemy as sa

    errors = []
    for user in ("postgres", "root"):
        url = PG_SERVER.format(user=user)
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql("SELECT 1")
            return url
        except Exception as error:  # any failure means: not usable here
            errors.append(f"{user}: {str(error).splitlines()[0]}")
        finally:
            engine.dispose()
    _pg_server_url.errors = errors  # type: ignore[attr-defined]
    return None


@pytest.fixture(scope="session")
def pg_server() -> str:
    """URL of the PostgreSQL test database (skip locally, fail in CI when it is down)."""
    url = _pg_server_url()
    if url is None:
        detail = "; ".join(getattr(_pg_server_url, "errors", []))
        message = f"PostgreSQL at {PG_SERVER.format(user='<postgres|root>')} is unreachable: {detail}"
        if _in_ci():
            pytest.fail(message + " (CI=true: PostgreSQL tests must run)", pytrace=False)
        pytest.skip(message)
    return url


@pytest.fixture(scope="session")
def pg_url(pg_server: str) -> Iterator[str]:
    """A migrated schema private to this session: `...?options=-csearch_path=<schema>`."""
    import sqlalchemy as sa

    schema = f"ductwork_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(pg_server)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = sa.make_url(pg_server).update_query_dict({"options": f"-csearch_path={schema}"})
    rendered = url.render_as_string(hide_password=False)
    from ductwork.store import migrate

    migrate.upgrade(rendered)
    try:
        yield rendered
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


def _empty_pg(url: str) -> None:
    import sqlalchemy as sa

    from ductwork.store.tables import metadata

    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
            conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    finally:
        engine.dispose()


# ---- SQLite --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test copies it instead of migrating again."""
    from ductwork.store import migrate

    path = tmp_path_factory.mktemp("store-template") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(_sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "store" / "ductwork.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_sqlite_template, path)
    return f"sqlite:///{path}"


# ---- both ----------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest) -> str:
    """URL of an empty, migrated store: a fresh SQLite file, or the session's PG schema emptied."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    url = str(request.getfixturevalue("pg_url"))
    _empty_pg(url)
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    from ductwork.store import Store

    opened = Store(store_url)
    yield opened
    opened.close()


@pytest.fixture
def sqlite_store(sqlite_url: str) -> Iterator[Store]:
    from ductwork.store import Store

    opened = Store(sqlite_url)
    yield opened
    opened.close()


# ---- separate machines ---------------------------------------------------------------------


@pytest.fixture
def machines(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Machines]:
    from machines import open_machines

    with open_machines(request, tmp_path_factory) as opened:
        yield opened


@pytest.fixture(scope="module")
def module_machines(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Machines]:
    from machines import open_machines

    with open_machines(request, tmp_path_factory) as opened:
        yield opened
