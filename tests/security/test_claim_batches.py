"""The batched queue calls an agent and a pipeline make, attacked: `POST /api/entries` (many
tasks onto a queue, all or none) and `POST /api/claims/end` (a claimed run's last console
lines, final status and idle worker in one call).

A batch is one permission check per task and one transaction: a batch that holds one task the
caller may not enqueue enqueues nothing. A run's end is an agent's (or an admin's) to say, only
over its own claim, with console lines of that task only.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from attack import ServerProcess

QUEUE = "nobody-serves-batches"  # no agent serves it: queued tasks stay queued
_registered: list[str] = []  # workers these tests registered, unregistered after each


@pytest.fixture(autouse=True)
def _leave_no_workers(server: ServerProcess) -> Any:
    """The server is shared: a worker left behind, which never beats, is reaped later, in the
    middle of another test that compares the list of workers."""
    yield
    with server.client(server.runner.key) as runner:
        while _registered:
            runner.delete(f"/api/workers/{_registered.pop()}")


def _ok(answer: httpx.Response) -> Any:
    assert answer.status_code < 300, f"{answer.request.method} {answer.request.url}: {answer.text}"
    return answer.json() if answer.content else None


def _tasks(server: ServerProcess, key: str, count: int) -> list[str]:
    with server.client(key) as c:
        _ok(c.post("/api/queues", json={"name": QUEUE}))
        return [
            _ok(c.post("/api/tasks", json={"name": f"b-{uuid.uuid4().hex[:8]}"}))["id"] for _ in range(count)
        ]


def _statuses(server: ServerProcess, ids: list[str]) -> list[str]:
    with server.client(server.admin.key) as admin:
        return [_ok(admin.get(f"/api/tasks/{task_id}"))["status"] for task_id in ids]


def test_a_batch_with_anothers_task_enqueues_nothing(server: ServerProcess) -> None:
    mine, bobs = _tasks(server, server.alice.key, 2), _tasks(server, server.bob.key, 1)
    with server.client(server.alice.key) as alice:
        answer = alice.post("/api/entries", json={"queue": QUEUE, "task_ids": [*mine, *bobs]})
    assert answer.status_code == 403, answer.text
    assert _statuses(server, [*mine, *bobs]) == ["created"] * 3
    with server.client(server.carol.key) as carol:  # read-only: not even her own would go
        assert carol.post("/api/entries", json={"queue": QUEUE, "task_ids": mine}).status_code == 403
    with server.client(server.alice.key) as alice:
        entries = _ok(alice.post("/api/entries", json={"queue": QUEUE, "task_ids": mine}))
    assert [e["task_id"] for e in entries] == mine
    assert _statuses(server, mine) == ["queued"] * 2


def test_hostile_batches_are_refused_whole(server: ServerProcess) -> None:
    ids = _tasks(server, server.alice.key, 2)
    with server.client(server.alice.key) as alice:
        for body in (
            {"queue": QUEUE, "task_ids": ["0" * 32] * 1001},  # over the limit, before any lookup
            {"queue": QUEUE, "task_ids": "not a list"},
            {"queue": QUEUE, "task_ids": [{"id": ids[0]}]},
            {"queue": QUEUE, "task_ids": ids, "priority": 2**40},
            {"queue": QUEUE, "task_ids": [ids[0], ids[0]]},  # the same task twice
            {"queue": QUEUE, "task_ids": [ids[0], "0" * 32]},  # an unknown task
            {"queue": "no-such-queue", "task_ids": ids},
        ):
            answer = alice.post("/api/entries", json=body)
            assert 400 <= answer.status_code < 500, (body, answer.text)
    assert _statuses(server, ids) == ["created", "created"]


def _claimed(server: ServerProcess, worker: str) -> dict[str, Any]:
    (task_id,) = _tasks(server, server.alice.key, 1)
    queue = f"claims-{uuid.uuid4().hex[:8]}"
    with server.client(server.runner.key) as runner:
        _ok(runner.post("/api/queues", json={"name": queue}))
        _ok(runner.post("/api/workers", json={"id": worker, "queues": [queue]}))
        _registered.append(worker)
        _ok(runner.post(f"/api/queues/{queue}/entries", json={"task_id": task_id}))
        claim: dict[str, Any] = _ok(runner.post("/api/claims", json={"queues": [queue], "worker": worker}))
    assert claim["id"] == task_id
    return claim


def _end(claim: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {
        "task_id": claim["id"],
        "worker": claim["worker"],
        "started": claim["started"],
        "status": "completed",
        "console": [{"task_id": claim["id"], "text": "last line"}],
        **changes,
    }


def test_only_an_agent_or_admin_ends_a_claim(server: ServerProcess) -> None:
    claim = _claimed(server, f"w-{uuid.uuid4().hex[:6]}")
    for account in (server.alice, server.bob, server.carol):  # alice owns the task, yet
        with server.client(account.key) as c:
            answer = c.post("/api/claims/end", json=_end(claim))
        assert answer.status_code == 403, (account.name, answer.text)
    with server.client(server.admin.key) as admin:
        assert _ok(admin.get(f"/api/tasks/{claim['id']}/console")) == []
    assert _statuses(server, [claim["id"]]) == ["in_progress"]
    with server.client(server.runner.key) as runner:
        assert _ok(runner.post("/api/claims/end", json=_end(claim))) == {"instead": None}
        assert [x["text"] for x in _ok(runner.get(f"/api/tasks/{claim['id']}/console"))] == ["last line"]
        worker = next(w for w in _ok(runner.get("/api/workers")) if w["id"] == claim["worker"])
    assert worker["task_id"] is None
    assert _statuses(server, [claim["id"]]) == ["completed"]


def test_an_end_changes_only_its_own_claim(server: ServerProcess) -> None:
    claim = _claimed(server, f"w-{uuid.uuid4().hex[:6]}")
    other = _claimed(server, f"w-{uuid.uuid4().hex[:6]}")
    with server.client(server.runner.key) as runner:
        for body in (
            _end(claim, started=claim["started"] + 1),  # an older claim of the same task
            _end(claim, worker=other["worker"]),  # another worker's name
        ):
            assert _ok(runner.post("/api/claims/end", json=body)) == {"instead": "taken"}
        for body in (
            _end(claim, status="published"),
            _end(claim, status="queued"),
            _end(claim, console=[{"task_id": other["id"], "text": "smuggled"}]),
            _end(claim, console=[{"task_id": claim["id"], "text": "x", "stream": "nowhere"}]),
            _end(claim, worker="w" * 10_000),
            _end(claim, started="yesterday"),
            _end(claim, task_id="0" * 32),
        ):
            answer = runner.post("/api/claims/end", json=body)
            assert 400 <= answer.status_code < 500, (body, answer.text)
        assert _ok(runner.get(f"/api/tasks/{other['id']}/console")) == []
    assert _statuses(server, [claim["id"], other["id"]]) == ["in_progress", "in_progress"]


def test_a_claim_carries_only_its_own_workers_last_end(server: ServerProcess) -> None:
    claim = _claimed(server, f"w-{uuid.uuid4().hex[:6]}")
    empty = f"empty-{uuid.uuid4().hex[:8]}"
    with server.client(server.runner.key) as runner:
        _ok(runner.post("/api/queues", json={"name": empty}))

        def ask(worker: str) -> httpx.Response:
            body = {"queues": [empty], "worker": worker, "end": _end(claim)}
            return runner.post("/api/claims", json=body)

        assert ask("someone-else").status_code == 422  # another worker's run: not its to end
        assert _statuses(server, [claim["id"]]) == ["in_progress"]
        assert _ok(runner.get(f"/api/tasks/{claim['id']}/console")) == []
        assert _ok(ask(claim["worker"])) is None  # ended, then claimed (nothing waits)
        assert [x["text"] for x in _ok(runner.get(f"/api/tasks/{claim['id']}/console"))] == ["last line"]
    assert _statuses(server, [claim["id"]]) == ["completed"]
    with server.client(server.alice.key) as alice:  # a user's claim is refused, end and all
        body = {"queues": [empty], "worker": claim["worker"], "end": _end(claim, status="failed")}
        assert alice.post("/api/claims", json=body).status_code == 403
    assert _statuses(server, [claim["id"]]) == ["completed"]


def test_a_claims_end_and_the_claim_are_one_transaction(server: ServerProcess) -> None:
    """The end a claim carries is recorded in the claim's own transaction: a claim that fails
    (a queue that does not exist) or carries a hostile end records nothing and claims nothing."""
    claim = _claimed(server, f"w-{uuid.uuid4().hex[:6]}")
    (waiting,) = _tasks(server, server.admin.key, 1)
    with server.client(server.runner.key) as runner:

        def ask(end: dict[str, Any], queue: str = QUEUE) -> httpx.Response:
            return runner.post("/api/claims", json={"queues": [queue], "worker": claim["worker"], "end": end})

        for end in (
            _end(claim, status="published"),
            _end(claim, console=[{"task_id": waiting, "text": "smuggled"}]),
            _end(claim, started="yesterday"),
        ):
            assert ask(end).status_code == 422, end
        assert ask(_end(claim), queue=f"gone-{uuid.uuid4().hex[:8]}").status_code == 404
        assert _ok(runner.get(f"/api/tasks/{claim['id']}/console")) == []
        assert _statuses(server, [claim["id"]]) == ["in_progress"]
        _ok(runner.post(f"/api/queues/{QUEUE}/entries", json={"task_id": waiting, "priority": 1_000}))
        taken = _ok(ask(_end(claim, status="failed", message="exit code 3")))
        assert taken is not None and taken["id"] == waiting and taken["worker"] == claim["worker"]
        worker = next(w for w in _ok(runner.get("/api/workers")) if w["id"] == claim["worker"])
        assert worker["task_id"] == waiting  # busy with the next run, not idle in between
        assert [x["text"] for x in _ok(runner.get(f"/api/tasks/{claim['id']}/console"))] == ["last line"]
    assert _statuses(server, [claim["id"], waiting]) == ["failed", "in_progress"]
