"""Headless Chromium (Debian's, driven by playwright) against a real server on a loopback port.

`server`: `ductwork ui` over a local home, one machine by design. The server runs in a thread
over the SQLite store of an isolated `$DUCTWORK_HOME`; pipelines run as real processes writing
to that same store, exactly as `ductwork ui` shows local runs.

`team_server`: the team server with logins, as separate machines (tests/machines.py): a real
`ductwork server` process on a machine of its own, and alice's laptop, whose pipelines and runs
reach it through HTTP only, so the pages show runs whose bytes live on the server alone.
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
from typing import TYPE_CHECKING, Any

import pytest
from browser_helpers import GATED_PIPELINE, WEB_RUNS, GatedRun, Server, TeamServer

sys.path.insert(0, str(Path(__file__).parents[2] / "integration" / "web"))  # web_runs: runs via the store

if TYPE_CHECKING:
    from machines import Machines

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


@pytest.fixture
def server(ductwork_home: Path) -> Iterator[Server]:
    """As `ductwork ui` serves: no logins."""
    import uvicorn

    from ductwork.core import settings
    from ductwork.server.app import create_app
    from ductwork.store import Store

    ductwork_home.mkdir(parents=True, exist_ok=True)
    store = Store(settings.db_url())
    app = create_app(store=store, auth=False, artifacts_uri=settings.artifacts_uri())
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
    yield Server(f"http://127.0.0.1:{port}", store, ductwork_home, runner, thread)
    runner.should_exit = True
    thread.join(timeout=15)
    store.close()


@pytest.fixture
def team_server(machines: Machines) -> TeamServer:
    """`ductwork server` (logins required; user alice, password `server.password`) and alice's
    laptop, each a machine of its own; web_runs.py is on the laptop for `make_run`."""
    server = machines.server()
    laptop = machines.client("laptop")
    laptop.copy(WEB_RUNS)
    return TeamServer(server, laptop)


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


class GatedRuns:
    """Gated pipelines started by `launch(script, gates)`, each with a gates folder of its own
    in `folder`; `backend` (a store or an HTTP backend) shows when a run has started."""

    def __init__(
        self, backend: Any, folder: Path, launch: Callable[[Path, Path], subprocess.Popen[bytes]]
    ) -> None:
        self.backend, self.folder, self.launch = backend, folder, launch
        self.started: list[GatedRun] = []

    def start(self) -> GatedRun:
        """Start the gated pipeline as its own process; answers once its controller task exists."""
        from ductwork.core.queries import TaskQuery

        gates = self.folder / f"gates-{len(self.started)}"
        gates.mkdir()
        script = self.folder / "gated_pipeline.py"
        script.write_text(GATED_PIPELINE)
        controllers = TaskQuery(type=["controller"], archived=None)
        before = {t.id for t in self.backend.query_tasks(controllers)}
        process = self.launch(script, gates)
        deadline = time.monotonic() + 30
        while True:
            new = [
                t
                for t in self.backend.query_tasks(controllers)
                if t.id not in before and t.status == "in_progress"
            ]
            if new:
                break
            assert process.poll() is None, "the pipeline process ended before its run started"
            assert time.monotonic() < deadline, "the pipeline did not start within 30 s"
            time.sleep(0.05)
        run = GatedRun(process, gates, new[0].id)
        self.started.append(run)
        return run

    def close(self) -> None:
        for run in self.started:
            for step in ("prepare", "train", "evaluate", "report"):
                run.open(step)
            try:
                run.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                run.process.kill()
                run.process.wait()


@pytest.fixture
def gated_run(server: Server, tmp_path: Path) -> Iterator[Callable[[], GatedRun]]:
    """Gated pipelines as processes beside the `ductwork ui` server, on its home."""

    def launch(script: Path, gates: Path) -> subprocess.Popen[bytes]:
        env = dict(os.environ, GATES=str(gates), DUCTWORK_HOME=str(server.home))
        return subprocess.Popen([sys.executable, str(script)], env=env, cwd=tmp_path)

    runs = GatedRuns(server.store, tmp_path, launch)
    yield runs.start
    runs.close()


@pytest.fixture
def team_gated_run(team_server: TeamServer) -> Iterator[Callable[[], GatedRun]]:
    """Gated pipelines on alice's laptop, through HTTP to the team server; the test opens
    their gates in the laptop's folder (as its user would)."""
    laptop = team_server.laptop

    def launch(script: Path, gates: Path) -> subprocess.Popen[bytes]:
        return laptop.start([sys.executable, script.name], f"{gates.name}.log", GATES=str(gates))

    runs = GatedRuns(team_server.api, laptop.work, launch)
    yield runs.start
    runs.close()
