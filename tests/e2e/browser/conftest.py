"""Headless Chromium (Debian's, driven by playwright) against a real server on a loopback port.

The server runs in a thread over the SQLite store of an isolated `$DUCTWORK_HOME`; pipelines run
as real processes writing to that same store, exactly as `ductwork ui` shows local runs.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import GATED_PIPELINE, GatedRun, Server

sys.path.insert(0, str(Path(__file__).parents[2] / "integration" / "web"))  # web_runs: runs via the store

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(home: Path, *, auth: bool) -> Iterator[Server]:
    import uvicorn

    from ductwork.core import settings
    from ductwork.server.app import create_app
    from ductwork.store import Store

    home.mkdir(parents=True, exist_ok=True)
    store = Store(settings.db_url())
    if auth:
        store.create_user("alice", password="wonderland")
    app = create_app(store=store, auth=auth, artifacts_uri=settings.artifacts_uri())
    port = _free_port()
    # Live-event streams stay open: shutting down must not wait for them to end.
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=1
    )
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, name="web-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not runner.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.02)
    yield Server(f"http://127.0.0.1:{port}", store, home, runner, thread)
    runner.should_exit = True
    thread.join(timeout=15)
    store.close()


@pytest.fixture
def server(ductwork_home: Path) -> Iterator[Server]:
    """As `ductwork ui` serves: no logins."""
    yield from _serve(ductwork_home, auth=False)


@pytest.fixture
def secured_server(ductwork_home: Path) -> Iterator[Server]:
    """As `ductwork server` serves: logins required; user alice, password wonderland."""
    yield from _serve(ductwork_home, auth=True)


@pytest.fixture(scope="module")  # playwright's sync API holds an event loop: end it with each module
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (scripts/test does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def gated_run(server: Server, tmp_path: Path) -> Iterator[Callable[[], GatedRun]]:
    """Start the gated pipeline as its own process; answers once its controller task exists."""
    started: list[GatedRun] = []

    def start() -> GatedRun:
        from ductwork.core.queries import TaskQuery

        gates = tmp_path / f"gates-{len(started)}"
        gates.mkdir()
        script = tmp_path / "gated_pipeline.py"
        script.write_text(GATED_PIPELINE)
        before = {t.id for t in server.store.query_tasks(TaskQuery(type=["controller"], archived=None))}
        env = dict(os.environ, GATES=str(gates), DUCTWORK_HOME=str(server.home))
        process = subprocess.Popen([sys.executable, str(script)], env=env, cwd=tmp_path)
        deadline = time.monotonic() + 30
        while True:
            new = [
                t
                for t in server.store.query_tasks(TaskQuery(type=["controller"], archived=None))
                if t.id not in before and t.status == "in_progress"
            ]
            if new:
                break
            assert process.poll() is None, "the pipeline process ended before its run started"
            assert time.monotonic() < deadline, "the pipeline did not start within 30 s"
            time.sleep(0.05)
        run = GatedRun(process, gates, new[0].id)
        started.append(run)
        return run

    yield start
    for run in started:
        for step in ("prepare", "train", "evaluate", "report"):
            run.open(step)
        try:
            run.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            run.process.kill()
            run.process.wait()
