"""A real S3-compatible server process for tests: moto's standalone server on loopback.

The server runs as its own process (`python -m moto.server`), so every client talks to it over
HTTP exactly as to an object store: clients in this process, a `ductwork server` process, agents.
It keeps its objects in memory for the test session; each test makes its own buckets.

    def test_something(s3_server: S3Server) -> None:
        bucket = s3_server.bucket()              # "s3://test-1a2b3c4d5e6f", new and empty
        env = s3_server.env()                    # a child process's environment, with credentials
        bare = s3_server.env(credentials=False)  # the same machine without any AWS credentials
        fs = s3_server.filesystem()              # an s3fs filesystem to look into the buckets
        s3_server.use(monkeypatch)               # this process: credentials and endpoint set

To use the fixture from another folder, import it in that folder's conftest:
`from s3server import s3_server  # noqa: F401` (tests/ is on sys.path through tests/conftest.py).

Every environment it hands out names the endpoint (`AWS_ENDPOINT_URL`) and turns off the
credential lookups that would leave this machine (the EC2 metadata service) or read the user's
own files (`~/.aws`), so a client without credentials fails at once, offline, as it would on a
machine that has none.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

ACCESS_KEY = "testing-access-key"
SECRET_KEY = "testing-secret-key"
REGION = "us-east-1"
START_TIMEOUT_S = 60.0


@dataclass
class S3Server:
    """A running moto server process at `endpoint` (`http://127.0.0.1:PORT`)."""

    endpoint: str
    process: subprocess.Popen[bytes]
    buckets: list[str] = field(default_factory=list)

    def env(self, *, credentials: bool = True, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """A whole environment for a child process: `base` (default: this process's) without
        any `AWS_*` variable of its own, plus the endpoint and, when `credentials`, the keys."""
        source = os.environ if base is None else base
        env = {k: v for k, v in source.items() if not k.startswith("AWS_")}
        env.update(self.aws_variables(credentials=credentials))
        return env

    def aws_variables(self, *, credentials: bool = True) -> dict[str, str]:
        """Just the `AWS_*` variables of `env` (to merge into an environment of your own, e.g.
        `machines.client("laptop", **s3_server.aws_variables(credentials=False))`)."""
        nowhere = os.path.join(os.sep, "nonexistent", "aws")
        found = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_SHARED_CREDENTIALS_FILE": nowhere,
            "AWS_CONFIG_FILE": nowhere,
        }
        # Empty, not absent, without credentials: merged over an environment that has some,
        # they still leave none (botocore takes an empty variable for an unset one).
        keys = (ACCESS_KEY, SECRET_KEY) if credentials else ("", "")
        found.update(
            {"AWS_ACCESS_KEY_ID": keys[0], "AWS_SECRET_ACCESS_KEY": keys[1], "AWS_SESSION_TOKEN": ""}
        )
        return found

    def use(self, monkeypatch: pytest.MonkeyPatch, *, credentials: bool = True) -> None:
        """Set this process's AWS environment as `env` would (undone after the test), and drop
        s3fs's cached clients, which keep the credentials they were made with."""
        for name in [k for k in os.environ if k.startswith("AWS_")]:
            monkeypatch.delenv(name)
        for name, value in self.aws_variables(credentials=credentials).items():
            monkeypatch.setenv(name, value)
        forget_s3_clients()

    def filesystem(self) -> Any:
        """An s3fs filesystem with credentials, independent of this process's environment."""
        import s3fs

        return s3fs.S3FileSystem(
            key=ACCESS_KEY,
            secret=SECRET_KEY,
            client_kwargs={"endpoint_url": self.endpoint},
            skip_instance_cache=True,
        )

    def bucket(self, name: str | None = None) -> str:
        """Create a bucket (default: a new unique name) and answer `s3://<name>`."""
        name = name or f"test-{uuid.uuid4().hex[:12]}"
        self.filesystem().mkdir(name)
        self.buckets.append(name)
        return f"s3://{name}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def forget_s3_clients() -> None:
    """s3fs keeps one filesystem per set of arguments, not per environment: drop them."""
    try:
        import s3fs
    except ImportError:
        return
    s3fs.S3FileSystem.clear_instance_cache()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_s3_server() -> S3Server:
    """Start `python -m moto.server` on a free loopback port; answers once it serves requests."""
    port = free_port()
    # Its request log goes to a nameless file (the child keeps its descriptor), never a pipe
    # that nobody reads and that would fill up.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server on {endpoint} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
                break
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError(f"moto server on {endpoint} did not answer within {START_TIMEOUT_S:g} s")
    return S3Server(endpoint, process)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One S3-compatible server process for the test session (see the module's docstring)."""
    server = start_s3_server()
    try:
        yield server
    finally:
        server.stop()
