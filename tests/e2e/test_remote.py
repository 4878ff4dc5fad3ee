"""Remote mode end to end: a real `ductwork server`, real agent processes, the examples run
with `start()` (controller on `services`, steps on `default`), on SQLite and PostgreSQL.

Also NEW RUN with edited arguments and abort of a running remote run, through the API.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ductwork.core.queries import TaskQuery

ROOT = Path(__file__).resolve().parents[2]
SRC = str(ROOT / "src")
FINAL = ("completed", "failed", "stopped")


@dataclass
class Remote:
    url: str
    key: str
    env: dict[str, str]  # for client processes: DUCTWORK_API_URL / DUCTWORK_API_KEY
    backend: Any
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def run_script(self, script: Path | str, *args: str, cwd: Path | None = None) -> str:
        done = subprocess.run(
            [sys.executable, str(script), *args],
            env=self.env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def controller(self, name: str) -> Any:
        runs = self.backend.query_tasks(TaskQuery(name=name, type=["controller"], archived=None))
        assert runs, f"no run named {name!r}"
        return runs[0]

    def wait_final(self, task_id: str, timeout: float = 120) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            task = self.backend.get_task(task_id)
            if task.status in FINAL:
                return task
            time.sleep(0.1)
        console = "\n".join(line.text for line in self.backend.get_console(task_id))
        raise AssertionError(f"task {task_id} still {task.status} after {timeout} s:\n{console}")

    def steps(self, run_id: str) -> dict[str, Any]:
        return {t.name: t for t in self.backend.query_tasks(TaskQuery(parent=run_id, archived=None))}


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def remote(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Remote]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("DUCTWORK_")}
    base["PYTHONPATH"] = os.pathsep.join([SRC, str(ROOT / "examples"), base.get("PYTHONPATH", "")])
    server_env = {**base, "DUCTWORK_HOME": str(tmp_path / "server-home")}
    if request.param == "postgresql":
        server_env["DUCTWORK_DB_URL"] = str(request.getfixturevalue("pg_url"))
        from ductwork.store import Store

        Store(server_env["DUCTWORK_DB_URL"]).database  # noqa: B018 (migrated by the fixture already)
        _empty_pg(server_env["DUCTWORK_DB_URL"])
    port = _free_port()
    processes: list[subprocess.Popen[bytes]] = []
    server = subprocess.Popen(
        [sys.executable, "-m", "ductwork", "server", "--port", str(port)],
        env=server_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    processes.append(server)
    try:
        key = _read_first_key(server)
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url)
        client_env = {
            **base,
            "DUCTWORK_API_URL": url,
            "DUCTWORK_API_KEY": key,
            "DUCTWORK_HOME": str(tmp_path / "client-home"),
        }
        agent_env = {**client_env, "DUCTWORK_HOME": str(tmp_path / "agent-home")}
        for args in (["--queue", "services", "--services-mode", "4"], ["--queue", "default"]):
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "ductwork", "agent", "--same-env", *args],
                    env=agent_env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        from ductwork.client.http import HttpBackend

        backend = HttpBackend(url, key)
        deadline = time.monotonic() + 20
        while len(backend.list_workers()) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        yield Remote(url, key, client_env, backend, processes)
        backend.close()
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def _wait_healthy(url: str) -> None:
    import httpx

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/health").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError(f"the server at {url} never became healthy")


def _read_first_key(server: subprocess.Popen[bytes]) -> str:
    assert server.stdout is not None
    seen = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = server.stdout.readline().decode()
        seen.append(line)
        if "API key:" in line:
            return line.split("API key:")[1].strip()
        if not line and server.poll() is not None:
            break
    raise AssertionError("the server printed no first admin key:\n" + "".join(seen))


def _empty_pg(url: str) -> None:
    import sqlalchemy as sa

    from ductwork.store.tables import metadata

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
        conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    engine.dispose()


def test_function_pipeline_runs_remotely_then_reruns_with_new_arguments(remote: Remote) -> None:
    out = remote.run_script(ROOT / "examples" / "function_pipeline.py", "remote")
    assert "queued on 'services'" in out
    run = remote.controller("summaries")
    done = remote.wait_final(run.id)
    assert done.status == "completed", done.status_message
    assert done.user == "admin"
    steps = remote.steps(run.id)
    assert set(steps) >= {"load", "clean", "mean", "spread", "report"}
    assert {s.status for s in steps.values()} == {"completed"}
    assert all(s.queue == "default" and s.worker for s in steps.values())

    started = remote.backend.new_run(run.id, {"rows": "50"})
    assert started["listening"] is True and started["name"] == "summaries #2"
    rerun = remote.wait_final(started["id"])
    assert rerun.status == "completed", rerun.status_message
    assert remote.backend.get_parameters(rerun.id)["Args/rows"].value == 50
    load = remote.steps(rerun.id)["load"]
    assert 50 in [p.value for p in remote.backend.get_parameters(load.id).values()]


def test_decorator_pipeline_runs_remotely(remote: Remote) -> None:
    remote.run_script(ROOT / "examples" / "decorator_pipeline.py", "remote")
    runs = remote.backend.query_tasks(TaskQuery(type=["controller"], archived=None))
    assert len(runs) == 1
    done = remote.wait_final(runs[0].id)
    assert done.status == "completed", done.status_message
    assert {s.status for s in remote.steps(done.id).values()} == {"completed"}


SLOW_PIPELINE = """
import time
from ductwork import PipelineController


def nap(seconds):
    import time
    time.sleep(seconds)
    return seconds


pipe = PipelineController(name="sleepy", project="e2e", version="1.0.0")
pipe.add_parameter("seconds", 300)
pipe.set_default_execution_queue("default")
pipe.add_function_step("nap", nap, function_kwargs={"seconds": "${pipeline.seconds}"}, function_return=["s"])
pipe.add_function_step("after", nap, function_kwargs={"seconds": 0}, parents=["nap"], function_return=["s"])
pipe.start(queue="services")
"""


def test_abort_stops_a_remote_run_and_its_running_step(remote: Remote, tmp_path: Path) -> None:
    script = tmp_path / "sleepy.py"
    script.write_text(textwrap.dedent(SLOW_PIPELINE))
    remote.run_script(script, cwd=tmp_path)
    run = remote.controller("sleepy")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        nap = remote.steps(run.id).get("nap")
        if nap is not None and nap.status == "in_progress":
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"the nap step never ran: {remote.steps(run.id)}")
    stopped = remote.backend.abort_run(run.id)
    assert run.id in stopped and nap.id in stopped
    assert remote.wait_final(run.id, 30).status == "stopped"
    assert remote.wait_final(nap.id, 30).status == "stopped"
    assert "after" not in remote.steps(run.id) or remote.steps(run.id)["after"].status != "completed"
    # the agent on `default` is free again
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if any(w.task_id is None for w in remote.backend.list_workers() if "default" in w.queues):
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"the default agent is still busy: {remote.backend.list_workers()}")


FLAKY_PIPELINE = """
from ductwork import PipelineController


def first():
    return 1


def flaky(x, flag):
    import os
    if not os.path.exists(flag):
        open(flag, "w").close()
        raise RuntimeError("first attempt fails")
    return x + 1


pipe = PipelineController(name="flaky", project="e2e", version="1.0.0")
pipe.add_parameter("flag", {flag!r})
pipe.set_default_execution_queue("default")
pipe.add_function_step("first", first, function_return=["x"])
pipe.add_function_step(
    "flaky",
    flaky,
    function_kwargs={{"x": "${{first.x}}", "flag": "${{pipeline.flag}}"}},
    function_return=["y"],
)
pipe.start(queue="services")
"""


def test_a_failed_remote_run_continues_from_its_failed_step(remote: Remote, tmp_path: Path) -> None:
    script = tmp_path / "flaky.py"
    script.write_text(FLAKY_PIPELINE.format(flag=str(tmp_path / "flag")))
    remote.run_script(script, cwd=tmp_path)
    run = remote.controller("flaky")
    assert remote.wait_final(run.id).status == "failed"
    first = remote.steps(run.id)["first"]
    assert first.status == "completed"
    answer = remote.backend._call("POST", f"/api/runs/{run.id}/continue", json={})
    assert answer["id"] == run.id and answer["listening"] is True
    done = remote.wait_final(run.id)
    assert done.status == "completed", done.status_message
    steps = remote.backend.query_tasks(TaskQuery(parent=run.id, archived=None))
    assert [s.id for s in steps if s.name == "first"] == [first.id]  # reused, not run again
    assert any(s.name == "flaky" and s.status == "completed" for s in steps), [
        (s.name, s.status) for s in steps
    ]
