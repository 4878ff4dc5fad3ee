"""The web UI over a real store, reached in-process through the ASGI app (no network)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient


@pytest.fixture
def artifacts_root(tmp_path: Path) -> Path:
    root = tmp_path / "server-artifacts"
    root.mkdir()
    return root


@pytest.fixture
def web(store: Any, artifacts_root: Path) -> Iterator[TestClient]:
    """A browser-like client (asks for HTML) of the app without auth, as `ductwork ui` runs it."""
    from ductwork.server.app import create_app

    app = create_app(store=store, auth=False, artifacts_uri=str(artifacts_root))
    with TestClient(app, headers={"Accept": "text/html"}) as client:
        yield client


@pytest.fixture
def secured(store: Any, artifacts_root: Path) -> Iterator[TestClient]:
    """The app as `ductwork server` runs it: auth on, with user alice (password wonderland)."""
    from ductwork.server.app import create_app

    store.create_user("alice", password="wonderland")
    app = create_app(store=store, auth=True, artifacts_uri=str(artifacts_root))
    with TestClient(app, headers={"Accept": "text/html"}, follow_redirects=False) as client:
        yield client
