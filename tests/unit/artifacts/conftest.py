from __future__ import annotations

from pathlib import Path

import pytest

from ductwork.artifacts import ArtifactStore


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own $DUCTWORK_HOME (and so its own cache)."""
    path = tmp_path / "home"
    monkeypatch.setenv("DUCTWORK_HOME", str(path))
    monkeypatch.delenv("DUCTWORK_ARTIFACTS_URI", raising=False)
    return path


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(str(tmp_path / "artifacts"))
