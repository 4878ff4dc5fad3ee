"""Fixtures of the fault tests (the helpers are in `fault_harness`)."""

from __future__ import annotations

import pytest
from fault_harness import fresh_pg

from machines import Machines, Server


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(db: str, request: pytest.FixtureRequest) -> str | None:
    """For an embedded store: None (SQLite in the home of whoever owns the store) or an
    emptied PostgreSQL schema."""
    if db == "sqlite":
        return None
    return fresh_pg(str(request.getfixturevalue("pg_url")))


@pytest.fixture
def server(machines: Machines, db: str) -> Server:
    """`ductwork server` on machine `server`, over `db`; its watchdog gives a silent worker 4 s."""
    return machines.server(db=db, DUCTWORK_HEARTBEAT_TIMEOUT="4")
