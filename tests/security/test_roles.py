"""Finding 6: roles and ownership. A key reaches only what the server means to give.

Every change a key can make to an object is tried four ways against a real server process:
alice's key on bob's objects (refused with 403, and the objects are exactly as before), the
read-only carol's key (refused), bob on his own objects (done), and the admin on anyone's
(done). Claims and workers are for agents and admins only. Reads stay open to every role.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from attack import Account, ServerProcess

IDLE_QUEUE = "nobody-listens"  # no agent serves it: queued tasks stay queued


@dataclass
class Objects:
    """One owner's objects, in the states the actions need."""

    owner: str
    task: str  # a draft with parameters, configuration, an artifact, console, metrics, a model
    queued: str  # a task waiting on IDLE_QUEUE
    run: str  # a failed pipeline run with a node
    queued_run: str  # a pipeline run waiting on IDLE_QUEUE
    model: str
    queue: str  # a queue the owner added


def _ok(answer: httpx.Response) -> Any:
    assert answer.status_code < 300, f"{answer.request.method} {answer.request.url}: {answer.text}"
    return answer.json() if answer.content else None


def make_objects(server: ServerProcess, account: Account) -> Objects:
    tag = uuid.uuid4().hex[:8]
    with server.client(account.key) as c:
        _ok(c.post("/api/queues", json={"name": IDLE_QUEUE}))
        queue = _ok(c.post("/api/queues", json={"name": f"q-{account.name}-{tag}"}))["name"]
        task = _ok(c.post("/api/tasks", json={"name": f"task-{tag}"}))["id"]
        _ok(
            c.put(
                f"/api/tasks/{task}/parameters", json={"params": {"Args/lr": {"value": 0.1, "type": "float"}}}
            )
        )
        _ok(c.put(f"/api/tasks/{task}/configuration", json={"name": "cfg", "text": "a: 1"}))
        _ok(c.put(f"/api/tasks/{task}/artifacts", json={"task_id": task, "name": "result", "inline": "42"}))
        _ok(c.post("/api/console", json=[{"task_id": task, "text": "hello"}]))
        event = {"task_id": task, "kind": "scalar", "title": "loss", "series": "train", "value": 1.0}
        _ok(c.post("/api/metrics", json=[event]))
        model = _ok(c.post("/api/models", json={"name": f"model-{tag}", "task_id": task}))["id"]
        _ok(c.post(f"/api/tasks/{task}/models", json={"task_id": task, "model_id": model, "role": "output"}))
        queued = _ok(c.post("/api/tasks", json={"name": f"queued-{tag}"}))["id"]
        _ok(c.post(f"/api/queues/{IDLE_QUEUE}/entries", json={"task_id": queued}))
        runs = []
        for _ in range(2):
            run = _ok(
                c.post(
                    "/api/tasks",
                    json={"name": f"pipe-{tag}", "type": "controller", "system_tags": ["pipeline"]},
                )
            )["id"]
            _ok(
                c.put(
                    f"/api/tasks/{run}/parameters", json={"params": {"Args/n": {"value": 3, "type": "int"}}}
                )
            )
            _ok(c.post("/api/nodes", json=[{"run_id": run, "name": "train", "status": "pending"}]))
            runs.append(run)
        _ok(c.post(f"/api/tasks/{runs[0]}/status", json={"status": "failed", "force": True}))
        _ok(c.post(f"/api/queues/{IDLE_QUEUE}/entries", json={"task_id": runs[1]}))
    return Objects(account.name, task, queued, runs[0], runs[1], model, queue)


def snapshot(server: ServerProcess, objects: Objects) -> dict[str, Any]:
    """Everything an action could change, read with the admin's key."""
    o = objects
    with server.client(server.admin.key) as c:
        ids = [o.task, o.queued, o.run, o.queued_run]
        return {
            "tasks": _ok(c.post("/api/tasks/get", json={"ids": ids})),
            "parameters": _ok(c.get(f"/api/tasks/{o.task}/parameters")),
            "configuration": _ok(c.get(f"/api/tasks/{o.task}/configuration")),
            "artifacts": _ok(c.get(f"/api/tasks/{o.task}/artifacts")),
            "models": _ok(c.get(f"/api/tasks/{o.task}/models")),
            "model": _ok(c.get(f"/api/models/{o.model}")),
            "console": _ok(c.get(f"/api/tasks/{o.task}/console")),
            "metrics": _ok(c.post("/api/metrics/query", json={"task_id": o.task})),
            "nodes": [_ok(c.get(f"/api/runs/{run}/nodes")) for run in (o.run, o.queued_run)],
            "queue": _ok(c.get(f"/api/queues/{o.queue}")),
            "entries": _ok(c.get(f"/api/queues/{IDLE_QUEUE}/entries")),
            "run args": _ok(c.get(f"/api/tasks/{o.run}/parameters")),
        }


Attempt = Callable[[httpx.Client, Objects], httpx.Response]

# Each thing a key can do to someone's object: (name, the request).
ACTIONS: list[tuple[str, Attempt]] = [
    ("rename task", lambda c, o: c.patch(f"/api/tasks/{o.task}", json={"name": "pwned"})),
    ("archive task", lambda c, o: c.patch(f"/api/tasks/{o.task}", json={"archived": True})),
    ("retag task", lambda c, o: c.patch(f"/api/tasks/{o.task}", json={"tags": ["pwned"]})),
    ("edit task comment", lambda c, o: c.patch(f"/api/tasks/{o.task}", json={"comment": "pwned"})),
    ("delete task", lambda c, o: c.delete(f"/api/tasks/{o.task}")),
    (
        "force status",
        lambda c, o: c.post(f"/api/tasks/{o.task}/status", json={"status": "failed", "force": True}),
    ),
    ("reset task", lambda c, o: c.post(f"/api/tasks/{o.task}/reset")),
    ("abort task", lambda c, o: c.post(f"/api/tasks/{o.queued}/abort")),
    ("dequeue task", lambda c, o: c.post(f"/api/tasks/{o.queued}/dequeue")),
    ("enqueue task", lambda c, o: c.post(f"/api/queues/{IDLE_QUEUE}/entries", json={"task_id": o.task})),
    (
        "overwrite parameters",
        lambda c, o: c.put(
            f"/api/tasks/{o.task}/parameters",
            json={"params": {"Args/lr": {"value": 9.0, "type": "float"}}, "replace": True},
        ),
    ),
    (
        "overwrite configuration",
        lambda c, o: c.put(f"/api/tasks/{o.task}/configuration", json={"name": "cfg", "text": "pwned"}),
    ),
    (
        "overwrite artifact record",
        lambda c, o: c.put(
            f"/api/tasks/{o.task}/artifacts", json={"task_id": o.task, "name": "result", "inline": "0"}
        ),
    ),
    ("delete artifact", lambda c, o: c.delete(f"/api/tasks/{o.task}/artifacts/result")),
    (
        "upload artifact bytes",
        lambda c, o: c.put(f"/api/tasks/{o.task}/artifacts/result/content", content=b"pwned"),
    ),
    ("write console", lambda c, o: c.post("/api/console", json=[{"task_id": o.task, "text": "pwned"}])),
    (
        "write metrics",
        lambda c, o: c.post(
            "/api/metrics",
            json=[{"task_id": o.task, "kind": "scalar", "title": "loss", "series": "x", "value": 0.0}],
        ),
    ),
    (
        "attach a model",
        lambda c, o: c.post(
            f"/api/tasks/{o.task}/models", json={"task_id": o.task, "model_id": o.model, "role": "input"}
        ),
    ),
    ("overwrite model", lambda c, o: c.post("/api/models", json={"id": o.model, "name": "pwned"})),
    (
        "add a model to the task",
        lambda c, o: c.post("/api/models", json={"name": "planted", "task_id": o.task}),
    ),
    ("delete queue", lambda c, o: c.delete(f"/api/queues/{o.queue}")),
    (
        "write run nodes",
        lambda c, o: c.post("/api/nodes", json=[{"run_id": o.run, "name": "train", "status": "completed"}]),
    ),
    ("abort run", lambda c, o: c.post(f"/api/runs/{o.queued_run}/abort")),
    ("continue run", lambda c, o: c.post(f"/api/runs/{o.run}/continue", json={"queue": IDLE_QUEUE})),
]
NAMES = [name for name, _ in ACTIONS]

# On SQLite every case of the matrix runs. On PostgreSQL each role runs one of two halves of
# the actions; each half changes every kind of object (task, queued task, queue entry,
# parameters, configuration, artifact, console, metrics, model, queue, run nodes, run), and
# between them the halves hold every action, so each action is refused and done on PostgreSQL.
HALF_A = {
    "rename task", "retag task", "delete task", "reset task", "abort task", "enqueue task",
    "overwrite parameters", "overwrite configuration", "overwrite artifact record",
    "upload artifact bytes", "write console", "write metrics", "attach a model",
    "add a model to the task", "delete queue", "write run nodes", "abort run",
}  # fmt: skip
HALF_B = {
    "archive task", "edit task comment", "force status", "dequeue task", "enqueue task",
    "overwrite parameters", "overwrite configuration", "delete artifact", "write console",
    "write metrics", "overwrite model", "delete queue", "write run nodes", "continue run",
}  # fmt: skip
POSTGRESQL_HALVES = {
    "test_a_user_cannot_touch_another_users_object": HALF_A,
    "test_a_read_only_user_changes_nothing": HALF_B,
    "test_the_owner_may": HALF_B,
}


def runs_on_postgresql(test: str, params: dict[str, Any]) -> bool:
    """Whether this case of the matrix also runs on PostgreSQL (the folder's conftest asks)."""
    if test == "test_an_admin_may_on_anyones_object":
        return params["name"] in (HALF_A if params["owner"] == "alice" else HALF_B)
    return test not in POSTGRESQL_HALVES or params["name"] in POSTGRESQL_HALVES[test]


@pytest.mark.parametrize("name", NAMES)
def test_a_user_cannot_touch_another_users_object(server: ServerProcess, name: str) -> None:
    attempt = dict(ACTIONS)[name]
    bobs = make_objects(server, server.bob)
    before = snapshot(server, bobs)
    with server.client(server.alice.key) as alice:
        answer = attempt(alice, bobs)
    assert answer.status_code == 403, answer.text
    body = answer.json()
    assert body["error"] == "Forbidden"
    assert body["message"].startswith("alice may not ") and " of bob" in body["message"], body
    assert "only its owner" in body["message"]
    assert snapshot(server, bobs) == before


@pytest.mark.parametrize("name", NAMES)
def test_a_read_only_user_changes_nothing(server: ServerProcess, name: str) -> None:
    attempt = dict(ACTIONS)[name]
    bobs = make_objects(server, server.bob)
    before = snapshot(server, bobs)
    with server.client(server.carol.key) as carol:
        answer = attempt(carol, bobs)
    assert answer.status_code == 403, answer.text
    assert "carol is a read-only user" in answer.json()["message"]
    assert snapshot(server, bobs) == before


@pytest.mark.parametrize("name", NAMES)
def test_the_owner_may(server: ServerProcess, name: str) -> None:
    bobs = make_objects(server, server.bob)
    with server.client(server.bob.key) as bob:
        _ok(dict(ACTIONS)[name](bob, bobs))


@pytest.mark.parametrize("owner", ["alice", "bob"])
@pytest.mark.parametrize("name", NAMES)
def test_an_admin_may_on_anyones_object(server: ServerProcess, name: str, owner: str) -> None:
    objects = make_objects(server, server.users[owner])
    with server.client(server.admin.key) as admin:
        _ok(dict(ACTIONS)[name](admin, objects))


def test_the_refused_changes_are_really_refused_not_just_answered(server: ServerProcess) -> None:
    """A few refusals checked field by field (the snapshot comparison covers all of them)."""
    bobs = make_objects(server, server.bob)
    with server.client(server.alice.key) as alice:
        assert alice.delete(f"/api/tasks/{bobs.task}").status_code == 403
        assert alice.delete(f"/api/queues/{bobs.queue}").status_code == 403
        assert alice.post(f"/api/tasks/{bobs.queued}/abort").status_code == 403
    with server.client(server.bob.key) as bob:
        assert bob.get(f"/api/tasks/{bobs.task}").json()["name"].startswith("task-")
        assert bob.get(f"/api/queues/{bobs.queue}").json()["user"] == "bob"
        assert bob.get(f"/api/tasks/{bobs.queued}").json()["status"] == "queued"


# -- what needs a role, whatever the owner ----------------------------------------------------------

ROLE_ONLY: list[tuple[str, Callable[[httpx.Client], httpx.Response]]] = [
    ("claim", lambda c: c.post("/api/claims", json={"queues": [IDLE_QUEUE], "worker": "w-test"})),
    ("register worker", lambda c: c.post("/api/workers", json={"id": "w-test", "queues": [IDLE_QUEUE]})),
    ("heartbeat", lambda c: c.post("/api/workers/w-test/heartbeat", json={})),
    ("unregister worker", lambda c: c.delete("/api/workers/w-test")),
]


@pytest.mark.parametrize("name", [name for name, _ in ROLE_ONLY])
def test_claims_and_workers_are_for_agents_and_admins(server: ServerProcess, name: str) -> None:
    attempt = dict(ROLE_ONLY)[name]
    with server.client(server.admin.key) as admin:
        _ok(admin.post("/api/queues", json={"name": IDLE_QUEUE}))
        workers_before = _ok(admin.get("/api/workers"))
    for account in (server.alice, server.bob, server.carol):
        with server.client(account.key) as c:
            answer = attempt(c)
        assert answer.status_code == 403, (account.name, answer.text)
        assert "an agent or an admin" in answer.json()["message"] or "read-only" in answer.json()["message"]
    with server.client(server.admin.key) as admin:
        assert _ok(admin.get("/api/workers")) == workers_before
    # the agent account registers, beats, claims (nothing waits on the idle queue) and leaves
    with server.client(server.runner.key) as runner:
        if name in ("heartbeat", "unregister worker"):
            _ok(dict(ROLE_ONLY)["register worker"](runner))
        _ok(attempt(runner))
        runner.delete("/api/workers/w-test")
    with server.client(server.admin.key) as admin:
        if name in ("heartbeat", "unregister worker"):
            _ok(dict(ROLE_ONLY)["register worker"](admin))
        _ok(attempt(admin))
        admin.delete("/api/workers/w-test")


# -- creating: who owns what ----------------------------------------------------------------------------


def test_a_read_only_user_creates_nothing(server: ServerProcess) -> None:
    bobs = make_objects(server, server.bob)
    with server.client(server.admin.key) as admin:
        tasks_before = _ok(admin.post("/api/tasks/count", json={}))
        queues_before = _ok(admin.get("/api/queues"))
    with server.client(server.carol.key) as carol:
        refused = [
            carol.post("/api/tasks", json={"name": "mine"}),
            carol.post(f"/api/tasks/{bobs.task}/clone", json={}),
            carol.post(f"/api/runs/{bobs.run}/new", json={"queue": IDLE_QUEUE}),
            carol.post("/api/queues", json={"name": f"carols-{uuid.uuid4().hex[:6]}"}),
            carol.post("/api/projects", json={"name": "carols project"}),
            carol.post("/api/models", json={"name": "carols model"}),
        ]
    for answer in refused:
        assert answer.status_code == 403, answer.text
        assert "carol is a read-only user" in answer.json()["message"]
    with server.client(server.admin.key) as admin:
        assert _ok(admin.post("/api/tasks/count", json={})) == tasks_before
        assert _ok(admin.get("/api/queues")) == queues_before


def test_a_read_only_user_reads_everything(server: ServerProcess) -> None:
    bobs = make_objects(server, server.bob)
    with server.client(server.carol.key) as carol:
        assert _ok(carol.get(f"/api/tasks/{bobs.task}"))["user"] == "bob"
        assert len(_ok(carol.post("/api/tasks/get", json={"ids": [bobs.task, bobs.run]}))) == 2
        assert _ok(carol.post("/api/tasks/query", json={"name_pattern": "^task-"}))
        assert _ok(carol.post("/api/tasks/count", json={})) >= 4
        assert _ok(carol.get(f"/api/tasks/{bobs.task}/parameters"))["Args/lr"]["value"] == 0.1
        assert _ok(carol.get(f"/api/tasks/{bobs.task}/configuration"))["cfg"]["text"] == "a: 1"
        assert _ok(carol.get(f"/api/tasks/{bobs.task}/artifacts"))[0]["name"] == "result"
        assert _ok(carol.get(f"/api/tasks/{bobs.task}/console"))[0]["text"] == "hello"
        assert _ok(carol.post("/api/metrics/query", json={"task_id": bobs.task}))[0]["value"] == 1.0
        assert _ok(carol.get(f"/api/models/{bobs.model}"))["user"] == "bob"
        assert _ok(carol.post("/api/models/query", json={}))
        assert _ok(carol.get(f"/api/runs/{bobs.run}/nodes"))[0]["name"] == "train"
        assert any(q["name"] == bobs.queue for q in _ok(carol.get("/api/queues")))
        assert _ok(carol.get("/api/workers")) is not None
        assert _ok(carol.get("/api/projects")) is not None
        assert _ok(carol.get("/api/whoami")) == {"name": "carol", "admin": False, "role": "readonly"}
        # the live event stream opens for a reader too
        with carol.stream("GET", f"/api/events?task={bobs.task}") as stream:
            assert stream.status_code == 200
            assert next(stream.iter_lines()) is not None


def test_the_owner_is_recorded_and_cannot_be_claimed(server: ServerProcess) -> None:
    bobs = make_objects(server, server.bob)
    with server.client(server.alice.key) as alice:
        made = _ok(alice.post("/api/tasks", json={"name": "claims-bob", "user": "bob"}))
        assert made["user"] == "alice"
        # creating a task with the id of bob's does not replace it
        before = snapshot(server, bobs)
        assert alice.post("/api/tasks", json={"id": bobs.task, "name": "pwned"}).status_code == 409
        assert snapshot(server, bobs) == before
        assert alice.patch(f"/api/tasks/{made['id']}", json={"user": "bob"}).status_code == 422
        # a copy of something readable is the caller's own
        copy = _ok(alice.post(f"/api/tasks/{bobs.task}/clone", json={}))
        assert copy["user"] == "alice"
        assert _ok(alice.patch(f"/api/tasks/{copy['id']}", json={"name": "my copy"}))["name"] == "my copy"
        started = _ok(alice.post(f"/api/runs/{bobs.run}/new", json={"args": {"n": 5}, "queue": IDLE_QUEUE}))
        new_run = _ok(alice.get(f"/api/tasks/{started['id']}"))
        assert new_run["user"] == "alice"
        assert _ok(alice.get(f"/api/tasks/{started['id']}/parameters"))["Args/n"]["value"] == 5
        model = _ok(alice.post("/api/models", json={"name": "alices", "user": "bob"}))
        assert model["user"] == "alice"
        queue = _ok(alice.post("/api/queues", json={"name": f"alices-{uuid.uuid4().hex[:6]}"}))
        assert queue["user"] == "alice"
        # ensuring bob's queue again does not make it alice's
        assert _ok(alice.post("/api/queues", json={"name": bobs.queue}))["user"] == "bob"
        # alice may abort her new run of bob's pipeline, and bob may not
    with server.client(server.bob.key) as bob:
        assert bob.post(f"/api/runs/{started['id']}/abort").status_code == 403
    with server.client(server.alice.key) as alice:
        assert _ok(alice.post(f"/api/runs/{started['id']}/abort"))["stopped"] == [started["id"]]
    with server.client(server.bob.key) as bob:
        assert _ok(bob.get(f"/api/models/{bobs.model}"))["user"] == "bob"
        assert _ok(bob.get(f"/api/tasks/{bobs.run}"))["user"] == "bob"


def test_aborting_a_run_leaves_other_users_copies_alone(server: ServerProcess) -> None:
    """A clone's parent is its source: bob aborting his run must not stop alice's queued copy."""
    bobs = make_objects(server, server.bob)
    with server.client(server.alice.key) as alice:
        copy = _ok(alice.post(f"/api/tasks/{bobs.queued_run}/clone", json={}))
        assert copy["parent"] == bobs.queued_run
        _ok(alice.post(f"/api/queues/{IDLE_QUEUE}/entries", json={"task_id": copy["id"]}))
    with server.client(server.bob.key) as bob:
        assert _ok(bob.post(f"/api/runs/{bobs.queued_run}/abort"))["stopped"] == [bobs.queued_run]
        assert _ok(bob.get(f"/api/tasks/{copy['id']}"))["status"] == "queued"


def test_an_agent_acts_on_any_task_but_deletes_nothing(server: ServerProcess) -> None:
    bobs = make_objects(server, server.bob)
    with server.client(server.runner.key) as runner:
        _ok(runner.post("/api/console", json=[{"task_id": bobs.task, "text": "from the agent"}]))
        _ok(runner.post(f"/api/tasks/{bobs.task}/status", json={"status": "in_progress", "force": True}))
        # a step it creates under bob's run is bob's; one without a parent is the agent's own
        step = _ok(runner.post("/api/tasks", json={"name": "step", "parent": bobs.run}))
        assert step["user"] == "bob"
        assert _ok(runner.post("/api/tasks", json={"name": "loose"}))["user"] == "runner"
        copy = _ok(runner.post(f"/api/tasks/{bobs.task}/clone", json={"parent": bobs.run}))
        assert copy["user"] == "bob"
        model = _ok(runner.post("/api/models", json={"name": "weights", "task_id": bobs.task}))
        assert model["user"] == "bob"
        refused = {
            "delete task": runner.delete(f"/api/tasks/{bobs.task}"),
            "delete queue": runner.delete(f"/api/queues/{bobs.queue}"),
        }
        for what, answer in refused.items():
            assert answer.status_code == 403, (what, answer.text)
            assert answer.json()["message"].startswith("runner may not delete"), answer.json()
        # the one delete an agent may do: a draft step under a running controller (a step
        # callback that declines the step), not a draft elsewhere
        assert runner.delete(f"/api/tasks/{copy['id']}").status_code == 403  # bob's run is failed
        _ok(runner.post(f"/api/tasks/{bobs.run}/status", json={"status": "in_progress", "force": True}))
        assert runner.delete(f"/api/tasks/{copy['id']}").status_code == 204
    with server.client(server.bob.key) as bob:
        assert _ok(bob.get(f"/api/tasks/{bobs.task}"))["status"] == "in_progress"
        assert _ok(bob.get(f"/api/queues/{bobs.queue}"))["user"] == "bob"
        assert _ok(bob.get(f"/api/tasks/{step['id']}"))["user"] == "bob"


def test_a_role_change_holds_at_the_next_request(server: ServerProcess) -> None:
    name = f"dave{uuid.uuid4().hex[:6]}"
    server.cli("users", "add", name, "--password", "dave-password-4", "--role", "readonly")
    key = server.cli("keys", "create", "--user", name).stdout.strip()
    listed = server.cli("users", "list").stdout
    assert f"{name}  readonly" in listed and "admin  admin" in listed and "runner  agent" in listed
    with server.client(key) as dave:
        assert dave.post("/api/tasks", json={"name": "x"}).status_code == 403
        server.cli("users", "set-role", name, "user")
        assert _ok(dave.post("/api/tasks", json={"name": "x"}))["user"] == name
        assert _ok(dave.get("/api/whoami"))["role"] == "user"
    refused = server.cli("users", "set-role", name, "owner", check=False)
    assert refused.returncode != 0 and "owner" in refused.stderr
    assert (
        server.cli(
            "users", "add", "x" + name, "--role", "readonly", "--admin", "--password", "p" * 9, check=False
        ).returncode
        != 0
    )


def test_the_sdk_and_the_cli_say_what_is_missing(server: ServerProcess) -> None:
    from ductwork.client.http import HttpBackend
    from ductwork.core.errors import Forbidden

    bobs = make_objects(server, server.bob)
    before = snapshot(server, bobs)
    sdk = HttpBackend(server.url, server.alice.key)
    try:
        with pytest.raises(Forbidden, match=r"^alice may not abort task .* of bob: only its owner"):
            sdk.abort_task(bobs.queued)
        with pytest.raises(Forbidden, match="alice may not delete queue"):
            sdk.delete_queue(bobs.queue)
    finally:
        sdk.close()
    env = {**server.env, "DUCTWORK_API_URL": server.url, "DUCTWORK_API_KEY": server.alice.key}
    for args in (["tasks", "abort", bobs.queued], ["queues", "delete", bobs.queue]):
        done = subprocess.run(
            [sys.executable, "-m", "ductwork", *args], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 1, done.stdout + done.stderr
        assert "alice may not" in done.stderr and "of bob" in done.stderr, done.stderr
    assert snapshot(server, bobs) == before
