"""Fixtures of the fault tests (the helpers are in `fault_harness`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fault_harness import Processes, Server, fresh_pg


@pytest.fixture
def processes() -> Iterator[Processes]:
    started = Processes()
    try:
        yield started
    finally:
        started.stop_all()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """None: SQLite in the home of whoever owns the store; else an emptied PostgreSQL schema."""
    if request.param == "sqlite":
        return None
    return fresh_pg(str(request.getfixturevalue("pg_url")))


@pytest.fixture
def server(db_url: str | None, tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path / "server-home", db_url)
    running.start()
    try:
        yield running
    finally:
        running.stop()
