"""Deleting a whole run (`DELETE /api/runs/{id}`, the run page's "Delete run…") against a real
server process: only the run's owner or an admin, never with another user's key, a forged
cookie, a cross-origin form or without the session's CSRF token; hostile ids are a 4xx; the
owner's delete removes the run, its steps and their metrics and console (issue 16)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from attack import Account, ServerProcess, free_port


def runs_on_postgresql(test: str, params: dict[str, Any]) -> bool:
    return test == "test_the_owner_deletes_the_run_its_steps_and_their_records"


@pytest.fixture
def run_of(server: ServerProcess) -> Any:
    """`run_of(account)`: a finished run (controller + two steps, console and a metric) made
    over the API with `account`'s key; answers {run, steps}."""

    def make(account: Account) -> dict[str, Any]:
        with server.client(account.key) as client:
            run = client.post(
                "/api/tasks",
                json={
                    "name": f"run-{uuid.uuid4().hex[:8]}",
                    "type": "controller",
                    "system_tags": ["pipeline"],
                },
            )
            assert run.status_code == 200, run.text
            run_id = run.json()["id"]
            steps = []
            for name in ("load", "train"):
                step = client.post("/api/tasks", json={"name": name, "parent": run_id})
                assert step.status_code == 200, step.text
                steps.append(step.json()["id"])
            added = client.post("/api/console", json=[{"task_id": steps[1], "text": "epoch 1"}])
            assert added.status_code == 204, added.text
            metric = {"task_id": steps[1], "kind": "scalar", "title": "loss", "value": 0.5}
            assert client.post("/api/metrics", json=[metric]).status_code == 204
            return {"run": run_id, "steps": steps}

    return make


def exists(server: ServerProcess, task_id: str) -> bool:
    with server.client(server.admin.key) as admin:
        return admin.get(f"/api/tasks/{task_id}").status_code == 200


def csrf_token(browser: httpx.Client) -> str:
    found = re.search(r'<meta name="csrf-token" content="([0-9a-f]+)">', browser.get("/pipelines").text)
    assert found, "the page carries no CSRF token"
    return found.group(1)


def test_another_users_key_and_a_readonly_key_are_refused(server: ServerProcess, run_of: Any) -> None:
    made = run_of(server.alice)
    for account in (server.bob, server.carol, server.runner):
        with server.client(account.key) as client:
            answer = client.delete(f"/api/runs/{made['run']}")
        assert answer.status_code == 403, (account.name, answer.text)
        assert account.name in answer.json()["message"]
    assert all(exists(server, t) for t in (made["run"], *made["steps"]))


def test_a_step_of_someone_else_refuses_the_whole_delete(server: ServerProcess, run_of: Any) -> None:
    made = run_of(server.alice)
    with server.client(server.bob.key) as bob:
        # bob cannot write under alice's run (his task would be alice's), so an admin adds one of his
        foreign = bob.post("/api/tasks", json={"name": "bobs"}).json()["id"]
    with server.client(server.admin.key) as admin:
        assert admin.patch(f"/api/tasks/{foreign}", json={"parent": made["run"]}).status_code == 200
    with server.client(server.alice.key) as alice:
        answer = alice.delete(f"/api/runs/{made['run']}")
    assert answer.status_code == 403, answer.text
    assert all(exists(server, t) for t in (made["run"], *made["steps"], foreign))


def test_forged_cookie_cross_origin_form_and_missing_token_are_refused(
    server: ServerProcess, run_of: Any
) -> None:
    made = run_of(server.alice)
    path = f"/api/runs/{made['run']}"
    forged = httpx.Client(base_url=server.url, timeout=30, cookies={"ductwork_session": "f" * 64})
    assert forged.delete(path, headers={"Origin": server.url}).status_code == 401
    victim = server.login("alice", server.alice.password)
    token = csrf_token(victim)
    evil = f"http://127.0.0.1:{free_port()}"
    # A form on another site (method override is not a thing here: the route is DELETE only)
    assert victim.post(path, data={"csrf_token": token}, headers={"Origin": evil}).status_code in (403, 405)
    refused = victim.delete(path, headers={"Origin": evil, "X-CSRF-Token": token})
    assert refused.status_code == 403 and "another origin" in refused.text
    missing = victim.delete(path, headers={"Origin": server.url})
    assert missing.status_code == 403 and "no CSRF token" in missing.text
    assert all(exists(server, t) for t in (made["run"], *made["steps"]))
    # The same session with its token and our origin may: the button's request.
    done = victim.delete(
        path, headers={"Origin": server.url, "X-CSRF-Token": token, "Accept": "application/json"}
    )
    assert done.status_code == 200, done.text
    assert not any(exists(server, t) for t in (made["run"], *made["steps"]))


def test_hostile_ids_are_a_clean_4xx(server: ServerProcess, run_of: Any) -> None:
    made = run_of(server.alice)
    with server.client(server.alice.key) as alice:
        for bad in ("x" * 60_000, "a%00b", "9" * 40, "..%2F..%2Fetc", "%ff%fe"):
            answer = alice.delete(f"/api/runs/{bad}")
            assert 400 <= answer.status_code < 500, (bad[:20], answer.status_code, answer.text[:200])
        # a plain task is not a run: it is deleted as a task, not here
        assert alice.delete(f"/api/runs/{made['steps'][0]}").status_code == 422
    assert all(exists(server, t) for t in (made["run"], *made["steps"]))


def test_the_owner_deletes_the_run_its_steps_and_their_records(server: ServerProcess, run_of: Any) -> None:
    made = run_of(server.alice)
    with server.client(server.alice.key) as alice:
        answer = alice.delete(f"/api/runs/{made['run']}")
        assert answer.status_code == 200, answer.text
        assert answer.json()["deleted"][-1] == made["run"]
        assert set(answer.json()["deleted"]) == {made["run"], *made["steps"]}
        for task_id in (made["run"], *made["steps"]):
            assert alice.get(f"/api/tasks/{task_id}").status_code == 404
            console = alice.get(f"/api/tasks/{task_id}/console")
            assert console.status_code == 404 or console.json() == []
            metrics = alice.post("/api/metrics/query", json={"task_id": task_id})
            assert metrics.status_code == 404 or metrics.json() == []
        assert alice.delete(f"/api/runs/{made['run']}").status_code == 404
    # An admin may delete anyone's run.
    other = run_of(server.bob)
    with server.client(server.admin.key) as admin:
        assert admin.delete(f"/api/runs/{other['run']}").status_code == 200


def test_a_running_run_is_refused_until_aborted(server: ServerProcess, run_of: Any) -> None:
    made = run_of(server.alice)
    with server.client(server.alice.key) as alice:
        started = alice.post(
            f"/api/tasks/{made['steps'][1]}/status", json={"status": "in_progress", "force": True}
        )
        assert started.status_code == 200, started.text
        answer = alice.delete(f"/api/runs/{made['run']}")
        assert answer.status_code == 409 and "abort" in answer.json()["message"]
    assert all(exists(server, t) for t in (made["run"], *made["steps"]))
