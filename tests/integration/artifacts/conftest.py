"""An S3-compatible server (moto's standalone server, a process on loopback) for these tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from s3server import S3Server, s3_server  # noqa: F401  (the session's server process)


@pytest.fixture(scope="session")
def s3_endpoint(s3_server: S3Server) -> str:  # noqa: F811
    return s3_server.endpoint


@pytest.fixture
def s3_env(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """Dummy credentials and the endpoint in the environment, as a user would configure them."""
    import s3fs

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("DUCTWORK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    # fsspec keeps filesystems by their arguments, not the environment: start and end clean,
    # so no other test reuses a client bound to this server's port
    s3fs.S3FileSystem.clear_instance_cache()
    yield s3_endpoint
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def bucket(s3_env: str) -> str:
    """A fresh bucket per test: `s3://<name>`."""
    import fsspec

    name = f"test-{uuid.uuid4().hex[:12]}"
    fs: Any = fsspec.filesystem("s3", client_kwargs={"endpoint_url": s3_env})
    fs.mkdir(name)
    return f"s3://{name}"
