"""A live server for agent tests, over the test's store (SQLite and PostgreSQL)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SERVER_CONFTEST = Path(__file__).resolve().parents[1] / "server" / "conftest.py"


def _server_helpers() -> Any:
    spec = importlib.util.spec_from_file_location("_server_conftest", SERVER_CONFTEST)
    assert spec is not None and spec.loader is not None
    module = sys.modules.get(spec.name)
    if module is None:
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses look their module up there
        spec.loader.exec_module(module)
    return module


@pytest.fixture
def live_server(store: Any, tmp_path: Path) -> Iterator[Any]:
    """A live server over the test's store (see tests/integration/server/conftest.py)."""
    helpers = _server_helpers()
    store.create_user("alice", password="wonderland", admin=True)
    key = store.create_api_key("alice").token
    server = helpers.start_server(store, key=key, artifacts_uri=str(tmp_path / "server-artifacts"))
    yield server
    server.stop()
