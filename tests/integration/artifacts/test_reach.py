"""Whether this machine reaches a storage root with its own credentials (`artifacts.reach`),
asked of a real S3-compatible server process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ductwork.artifacts import reach
from s3server import S3Server, forget_s3_clients, free_port


@pytest.fixture(autouse=True)
def fresh_probes() -> Iterator[None]:
    reach.forget()
    yield
    reach.forget()
    forget_s3_clients()


def test_credentials_that_work_reach_the_root_even_before_anything_is_stored(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3_server.use(monkeypatch)
    bucket = s3_server.bucket()
    assert reach.unreachable(f"{bucket}/artifacts") is None
    s3_server.filesystem().pipe(f"{bucket[len('s3://') :]}/artifacts/x", b"1")
    reach.forget()
    assert reach.unreachable(f"{bucket}/artifacts/") is None


def test_a_machine_without_credentials_does_not_reach_it(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = s3_server.bucket()
    s3_server.use(monkeypatch, credentials=False)
    reason = reach.unreachable(f"{bucket}/artifacts")
    assert reason is not None and "NoCredentialsError" in reason


def test_an_endpoint_that_does_not_answer_is_not_reached(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = s3_server.bucket()
    s3_server.use(monkeypatch)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nobody listens
    reason = reach.unreachable(f"{bucket}/artifacts")
    assert reason is not None and "connect" in reason.lower()


def test_the_answer_is_kept_per_root_until_forgotten(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = s3_server.bucket()
    s3_server.use(monkeypatch, credentials=False)
    assert reach.unreachable(f"{bucket}/a") is not None
    s3_server.use(monkeypatch)
    assert reach.unreachable(f"{bucket}/a/") is not None  # the same root: asked once
    assert reach.unreachable(f"{bucket}/b") is None  # another root: asked now
    reach.forget()
    assert reach.unreachable(f"{bucket}/a") is None
