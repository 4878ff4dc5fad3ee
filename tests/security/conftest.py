"""Fixtures for the attack tests: see `attack.py` for what the server process offers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from attack import Account, ServerProcess, start_server, stop_server


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server process per test module and database; tests make their own objects on it."""
    home = tmp_path_factory.mktemp("server-home")
    db_url = None
    if request.param == "postgresql":
        db_url = _fresh_pg_schema(str(request.getfixturevalue("pg_server")))
    started = start_server(home, db_url=db_url)
    yield started
    stop_server(started)


def _fresh_pg_schema(server_url: str) -> str:
    import sqlalchemy as sa

    schema = f"ductwork_sec_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    admin.dispose()
    url = sa.make_url(server_url).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture
def task_of(server: ServerProcess) -> Any:
    """`task_of(account, **fields)`: a task created over the API with `account`'s key; its JSON."""

    def create(account: Account, **fields: Any) -> dict[str, Any]:
        with server.client(account.key) as client:
            answer = client.post("/api/tasks", json={"name": f"t-{uuid.uuid4().hex[:8]}", **fields})
            assert answer.status_code == 200, answer.text
            return dict(answer.json())

    return create
