"""Finding 6, end to end: an agent account runs alice's pipeline and the steps are alice's; a
browser session of alice is refused on bob's run with the reason, and the run is untouched.

The agent is a real `ductwork agent` process with its own home, holding the key of the agent
account `runner` (`ductwork users add runner --role agent`); alice launches the example
pipeline with her own key from a third home.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from attack import ROOT, ServerProcess, base_env

FINAL = ("completed", "failed", "stopped")


@pytest.fixture
def agent(server: ServerProcess, tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Two `ductwork agent`s with the agent account's key, each with its own home: one runs
    controllers (`services`), one runs steps (`default`)."""
    processes = []
    for name, args in (("services", ["--services-mode", "2"]), ("default", [])):
        env = {
            **base_env(),
            "DUCTWORK_API_URL": server.url,
            "DUCTWORK_API_KEY": server.runner.key,
            "DUCTWORK_HOME": str(tmp_path / f"agent-{name}-home"),
        }
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "ductwork", "agent", "--same-env", "--queue", name, *args],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    try:
        with server.client(server.admin.key) as admin:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                queues = {q for w in admin.get("/api/workers").json() for q in w["queues"]}
                if {"services", "default"} <= queues:
                    break
                time.sleep(0.05)
            else:
                raise AssertionError("the agents never registered")
        yield processes
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def _wait_final(client: httpx.Client, task_id: str, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    task: dict[str, Any] = {}
    while time.monotonic() < deadline:
        task = client.get(f"/api/tasks/{task_id}").json()
        if task["status"] in FINAL:
            return task
        time.sleep(0.1)
    console = client.get(f"/api/tasks/{task_id}/console").json()
    raise AssertionError(
        f"task {task_id} still {task.get('status')}:\n" + "".join(c["text"] for c in console)
    )


def test_an_agent_account_runs_alices_pipeline_and_the_steps_are_hers(
    server: ServerProcess, agent: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    env = {
        **base_env(),
        "DUCTWORK_API_URL": server.url,
        "DUCTWORK_API_KEY": server.alice.key,
        "DUCTWORK_HOME": str(tmp_path / "alice-home"),
    }
    env["PYTHONPATH"] = os.pathsep.join([env["PYTHONPATH"], str(ROOT / "examples")])
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "function_pipeline.py"), "remote"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    with server.client(server.alice.key) as alice:
        runs = alice.post("/api/tasks/query", json={"name": "summaries", "type": ["controller"]}).json()
        assert len(runs) == 1
        run = _wait_final(alice, runs[0]["id"])
        assert run["status"] == "completed", run["status_message"]
        assert run["user"] == "alice"
        steps = alice.post("/api/tasks/query", json={"parent": run["id"], "archived": None}).json()
        assert {s["name"] for s in steps} >= {"load", "clean", "mean", "spread", "report"}
        assert {s["status"] for s in steps} == {"completed"}
        # created through the agent's key, owned by whoever launched the pipeline
        assert {s["user"] for s in steps} == {"alice"}
        assert all(s["worker"] for s in steps)
    # bob may read alice's run but not stop or change it
    with server.client(server.bob.key) as bob:
        assert bob.get(f"/api/tasks/{run['id']}").status_code == 200
        answer = bob.post(f"/api/tasks/{steps[0]['id']}/reset")
        assert answer.status_code == 403 and "of alice" in answer.json()["message"]
    with server.client(server.alice.key) as alice:
        assert alice.get(f"/api/tasks/{steps[0]['id']}").json()["status"] == "completed"


def _csrf(html: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert found, "the page carries no CSRF token"
    return found.group(1)


def test_alices_browser_session_is_refused_on_bobs_run(server: ServerProcess) -> None:
    tag = uuid.uuid4().hex[:8]
    with server.client(server.bob.key) as bob:
        bob.post("/api/queues", json={"name": "nobody-listens"}).raise_for_status()
        run = bob.post(
            "/api/tasks", json={"name": f"pipe-{tag}", "type": "controller", "system_tags": ["pipeline"]}
        ).json()
        bob.put(
            f"/api/tasks/{run['id']}/parameters", json={"params": {"Args/n": {"value": 3, "type": "int"}}}
        ).raise_for_status()
        bob.post("/api/queues/nobody-listens/entries", json={"task_id": run["id"]}).raise_for_status()
        before = bob.post("/api/tasks/get", json={"ids": [run["id"]]}).json()
        count_before = bob.post("/api/tasks/count", json={"archived": None}).json()
    browser = server.login(server.alice.name, server.alice.password)
    try:
        page = browser.get(f"/runs/{run['id']}")
        assert page.status_code == 200
        # the page offers alice no change to bob's run: Abort disabled, no tag or archive
        assert re.search(r'data-action="abort"[^>]*disabled', page.text)
        assert 'data-action="archive"' not in page.text and 'data-action="tag"' not in page.text
        token = _csrf(page.text)
        headers = {"X-CSRF-Token": token, "Origin": server.url, "Accept": "application/json"}
        # what the buttons send (actions.js), sent anyway
        tried = {
            "abort": browser.post(f"/api/runs/{run['id']}/abort", headers=headers),
            "continue": browser.post(f"/api/runs/{run['id']}/continue", json={}, headers=headers),
            "archive": browser.patch(f"/api/tasks/{run['id']}", json={"archived": True}, headers=headers),
            "tag": browser.patch(
                f"/api/tasks/{run['id']}", json={"tags": ["alice-was-here"]}, headers=headers
            ),
            "delete": browser.delete(f"/api/tasks/{run['id']}", headers=headers),
        }
        for action, answer in tried.items():
            assert answer.status_code == 403, (action, answer.status_code, answer.text)
            message = answer.json()["message"]
            assert message.startswith("alice may not") and "of bob" in message, (action, message)
        # the clone and NEW RUN buttons are for anyone who may create: the copy is alice's
        form = {"csrf_token": token, "arg:n": "7", "queue": "nobody-listens"}
        started = browser.post(
            f"/runs/{run['id']}/new", data=form, headers={"Origin": server.url, "HX-Request": "true"}
        )
        assert started.status_code == 204, started.text
        new_id = started.headers["HX-Redirect"].rsplit("/", 1)[1]
    finally:
        browser.close()
    with server.client(server.bob.key) as bob:
        assert bob.post("/api/tasks/get", json={"ids": [run["id"]]}).json() == before
        assert bob.get(f"/api/tasks/{new_id}").json()["user"] == "alice"
        assert bob.post("/api/tasks/count", json={"archived": None}).json() == count_before + 1


def test_a_read_only_browser_session_cannot_start_a_run(server: ServerProcess) -> None:
    with server.client(server.bob.key) as bob:
        bob.post("/api/queues", json={"name": "nobody-listens"}).raise_for_status()
        run = bob.post(
            "/api/tasks", json={"name": "pipe-ro", "type": "controller", "system_tags": ["pipeline"]}
        ).json()
        count_before = bob.post("/api/tasks/count", json={"archived": None}).json()
    browser = server.login(server.carol.name, server.carol.password)
    try:
        page = browser.get(f"/runs/{run['id']}")
        assert page.status_code == 200
        assert re.search(r'hx-get="/runs/[0-9a-f]+/new"[^>]*disabled', page.text)
        token = _csrf(page.text)
        refused = browser.post(
            f"/runs/{run['id']}/new",
            data={"csrf_token": token, "queue": "nobody-listens"},
            headers={"Origin": server.url, "HX-Request": "true"},
        )
        assert refused.status_code == 403
        assert "carol is a read-only user" in refused.text  # the form shows the reason
        opened = browser.get(f"/runs/{run['id']}/new")
        assert opened.status_code == 403 and "read-only" in opened.text
    finally:
        browser.close()
    with server.client(server.bob.key) as bob:
        assert bob.post("/api/tasks/count", json={"archived": None}).json() == count_before
