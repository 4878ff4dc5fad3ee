"""Fixtures of the pipeline tests: an isolated home and the decorator's mode put back after; an
agent serving the embedded store's `services` and `default` queues."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def home(ductwork_home: Path) -> Iterator[Path]:
    from ductwork.pipelines.decorator import _defaults

    saved = _defaults.mode, _defaults.queue
    yield ductwork_home
    _defaults.mode, _defaults.queue = saved
    # A controller that never ran here stays the script's current task (as after Task.init):
    # the next test is another script.
    from ductwork.sdk import current

    current.set_main(None)


@pytest.fixture(params=["debug", "local"])
def mode(request: pytest.FixtureRequest, home: Path) -> str:
    """Each test once with steps as in-process calls and once as local processes."""
    from ductwork import PipelineDecorator

    if request.param == "debug":
        PipelineDecorator.debug_pipeline()
    else:
        PipelineDecorator.run_locally()
    return str(request.param)


def backend():  # type: ignore[no-untyped-def]
    from ductwork import client

    return client.backend()


@pytest.fixture
def agent(ductwork_home: Path, tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {**os.environ, "DUCTWORK_HOME": str(ductwork_home), "GATE_FILE": str(tmp_path / "gate")}
    command = [sys.executable, "-m", "ductwork", "agent", "--queue", "services", "--queue", "default"]
    process = subprocess.Popen([*command, "--same-env", "--services-mode", "2"], env=env)
    yield env
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()


def wait_final(store, task_id: str, seconds: float = 90):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        record = store.get_task(task_id)
        if record.status in ("completed", "failed", "stopped"):
            return record
        time.sleep(0.2)
    raise AssertionError(f"task {task_id} is still {store.get_task(task_id).status}")
