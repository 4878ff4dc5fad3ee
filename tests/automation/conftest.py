"""Fixtures of the scheduler tests: a home of the test's own, and the scheduler's task (the
main task of this process while a scheduler is in it) closed after."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def home(ductwork_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from ductwork.sdk import current
    from ductwork.sdk.capture import arguments, console

    monkeypatch.delenv("DUCTWORK_CONSOLE_CAPTURED", raising=False)
    arguments.forget_parsed()
    yield ductwork_home
    arguments.forget_parsed()
    main = current.main_task()
    if main is not None and not main._closed:
        main.close()
    current.set_main(None)
    console.uninstall()


@pytest.fixture
def server_store(home: Path) -> Iterator[Any]:
    """The store a server opens over the same home (its own connection, as `ductwork ui`)."""
    from ductwork.core import settings
    from ductwork.store import Store

    opened = Store(settings.db_url())
    yield opened
    opened.close()


def run_for(service: Any, seconds: float) -> None:
    """Run a scheduler's loop on a thread for `seconds` of real time, then stop it."""
    thread = threading.Thread(target=service.start, daemon=True)
    thread.start()
    time.sleep(seconds)
    service.stop()
    thread.join(10)
    assert not thread.is_alive()


@contextlib.contextmanager
def running(service: Any) -> Iterator[Any]:
    """A scheduler's loop on a thread while the block runs, stopped after it (failing or not)."""
    thread = threading.Thread(target=service.start, daemon=True)
    thread.start()
    try:
        yield service
    finally:
        service.stop()
        thread.join(10)
    assert not thread.is_alive()


def wait_for(check: Any, seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not reached within {seconds}s: {check}")


@pytest.fixture
def agent(home: Path, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A services-mode agent on `services` and `default` as a process of its own (its
    environment is the fixture's value; TICKS names a file the test scripts may write)."""
    env = {**os.environ, "DUCTWORK_HOME": str(home), "TICKS": str(tmp_path / "ticks")}
    command = [sys.executable, "-m", "ductwork", "agent", "--queue", "services", "--queue", "default"]
    process = subprocess.Popen([*command, "--same-env", "--services-mode", "2"], env=env)
    yield env
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()


def saved_state(task_id: str) -> dict[str, Any]:
    """What a scheduler keeps on its task (configuration object `state`), per entry name."""
    from ductwork import client

    stored = client.backend().get_configurations(task_id).get("state")
    found: dict[str, Any] = json.loads(stored.text) if stored is not None and stored.text else {}
    return found


def pipeline_run(script: str, env: dict[str, str], folder: Path) -> Any:
    """Run a pipeline script (its text) as a process with `env`; the run's controller task."""
    from ductwork import client
    from ductwork.core.queries import TaskQuery

    path = folder / "pipeline.py"
    path.write_text(textwrap.dedent(script))
    done = subprocess.run([sys.executable, str(path)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    (run,) = client.backend().query_tasks(TaskQuery(type=["controller"]))
    return run
