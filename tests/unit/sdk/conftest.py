"""Fixtures of the Task / Logger / Model SDK tests.

`sdk_home`: an isolated `$DUCTWORK_HOME` with the embedded store; afterwards the process's main
task is closed and forgotten and the console proxy removed, so tests do not leak into each other.
`run_script`: runs a Python script in a fresh interpreter against the same home.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

SRC = Path(__file__).resolve().parents[3] / "src"


@pytest.fixture
def sdk_home(ductwork_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from ductwork.sdk import current
    from ductwork.sdk.capture import arguments, console

    monkeypatch.delenv("DUCTWORK_CONSOLE_CAPTURED", raising=False)
    arguments.forget_parsed()
    yield ductwork_home
    arguments.forget_parsed()

    main = current.main_task()
    if main is not None and not main._closed:
        try:
            main.close()
        except Exception:
            pass
    current.set_main(None)
    console.uninstall()


@pytest.fixture
def run_script(sdk_home: Path, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Write `code` to a script and run it; returns the finished process (output captured)."""

    def run(
        code: str, *args: str, env: dict[str, str] | None = None, name: str = "script.py"
    ) -> subprocess.CompletedProcess[str]:
        script = tmp_path / name
        script.write_text(textwrap.dedent(code))
        environment = {**os.environ, "DUCTWORK_HOME": str(sdk_home), **(env or {})}
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), environment.get("PYTHONPATH")]))
        return subprocess.run(
            [sys.executable, str(script), *args],
            capture_output=True,
            text=True,
            env=environment,
            cwd=tmp_path,
            timeout=120,
        )

    return run


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server(sdk_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A server over the home's store; the SDK of this test reaches it only over HTTP."""
    import uvicorn

    from ductwork import client
    from ductwork.client.http import HttpBackend
    from ductwork.core import settings
    from ductwork.server.app import create_app
    from ductwork.store import Store

    store = Store(settings.db_url())
    store.create_user("sdk", password="secret-password", admin=True)
    key = store.create_api_key("sdk").token
    port = _free_port()
    server_root = sdk_home.parent / "server-artifacts"
    app = create_app(store=store, auth=True, artifacts_uri=str(server_root))
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1
    )
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not runner.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.01)
    monkeypatch.setenv("DUCTWORK_API_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("DUCTWORK_API_KEY", key)
    client.use(None)
    assert isinstance(client.backend(), HttpBackend)
    store.artifacts_root = server_root  # for the tests to look at
    yield store
    from ductwork.sdk import current

    main = current.main_task()
    if main is not None and not main._closed:
        main.close()
    client.use(None)
    runner.should_exit = True
    thread.join(timeout=30)
    store.close()
