"""Fixtures for the attack tests: see `attack.py` for what the server process offers.

`server` is one server per database for the whole folder (a start costs seconds on a loaded
machine). Tests on it make their own objects and users and compare only what they made; a
test that needs other settings, or trips a limit that would block the next test (login
back-off, short sessions), starts a server of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from attack import DATABASES, Account, ServerProcess, serve


@pytest.fixture(scope="session", params=DATABASES)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """The folder's server process on each database; tests make their own objects on it."""
    yield from serve(request, tmp_path_factory)


@pytest.fixture
def task_of(server: ServerProcess) -> Any:
    """`task_of(account, **fields)`: a task created over the API with `account`'s key; its JSON."""

    def create(account: Account, **fields: Any) -> dict[str, Any]:
        with server.client(account.key) as client:
            answer = client.post("/api/tasks", json={"name": f"t-{uuid.uuid4().hex[:8]}", **fields})
            assert answer.status_code == 200, answer.text
            return dict(answer.json())

    return create


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the PostgreSQL cases a module leaves to SQLite: a module that defines
    `runs_on_postgresql(test name, parameters)` keeps only the cases it answers True for."""
    kept, dropped = [], []
    for item in items:
        decide = getattr(getattr(item, "module", None), "runs_on_postgresql", None)
        params = getattr(getattr(item, "callspec", None), "params", {})
        test = getattr(item, "originalname", item.name)
        if decide and params.get("server") == "postgresql" and not decide(test, params):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
