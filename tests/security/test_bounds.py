"""Finding 10: values the database cannot hold are a 422 naming the field, never a 500.

Each route and field of the finding gets integers just past 64 bits (2**63, 2**64,
-2**63-1), 2**31 where the column is 32-bit, a NUL character and a 10 MB string, against a
real server process on SQLite and on PostgreSQL. After every refusal the object is as it
was and the server still answers.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from attack import ServerProcess

BIG = [2**63, 2**64, -(2**63) - 1]
INT32 = [2**31, -(2**31) - 1]
NUL = "bad\x00name"
HUGE = "x" * (10 << 20)


@dataclass
class Target:
    """One route with one field to attack; `send(client, objects, value)` makes the request,
    `look(client, objects)` reads what the attack must not have changed."""

    field: str
    send: Callable[[httpx.Client, dict[str, Any], Any], httpx.Response]
    look: Callable[[httpx.Client, dict[str, Any]], Any]
    bits: int = 64  # the column's width
    text: bool = False  # the field is a string (NUL and 10 MB apply, not integers)


def _task(c: httpx.Client, o: dict[str, Any]) -> Any:
    return c.get(f"/api/tasks/{o['task']}").json()


def _events(c: httpx.Client, o: dict[str, Any]) -> Any:
    return c.post("/api/metrics/query", json={"task_id": o["task"]}).json()


def _entries(c: httpx.Client, o: dict[str, Any]) -> Any:
    return [c.get(f"/api/queues/{o['queue']}/entries").json(), _task(c, o)["status"]]


def _workers(c: httpx.Client, o: dict[str, Any]) -> Any:
    return sorted(w["id"] for w in c.get("/api/workers").json())


def _model(c: httpx.Client, o: dict[str, Any]) -> Any:
    return c.get(f"/api/models/{o['model']}").json()


def _artifacts(c: httpx.Client, o: dict[str, Any]) -> Any:
    return c.get(f"/api/tasks/{o['task']}/artifacts").json()


def _count(c: httpx.Client, o: dict[str, Any]) -> Any:
    return c.post("/api/tasks/count", json={}).json()


def _metric(value: Any, field: str) -> Callable[[httpx.Client, dict[str, Any], Any], httpx.Response]:
    def send(c: httpx.Client, o: dict[str, Any], v: Any) -> httpx.Response:
        event = {"task_id": o["task"], "kind": "scalar", "title": "t", "series": "s", "value": 1.0, field: v}
        return c.post("/api/metrics", json=[event])

    return send


TARGETS = [
    Target("iteration", _metric(0, "iteration"), _events),
    Target("title", _metric("", "title"), _events, text=True),
    Target(
        "after",
        lambda c, o, v: c.get(f"/api/tasks/{o['task']}/console", params={"after": v}),
        _task,
        bits=32,
    ),
    Target("limit", lambda c, o, v: c.get(f"/api/tasks/{o['task']}/console", params={"limit": v}), _task),
    Target("progress", lambda c, o, v: c.patch(f"/api/tasks/{o['task']}", json={"progress": v}), _task, 32),
    Target("name", lambda c, o, v: c.patch(f"/api/tasks/{o['task']}", json={"name": v}), _task, text=True),
    Target("progress", lambda c, o, v: c.post("/api/tasks", json={"name": "p", "progress": v}), _count, 32),
    Target("limit", lambda c, o, v: c.post("/api/tasks/query", json={"limit": v}), _count),
    Target("offset", lambda c, o, v: c.post("/api/tasks/query", json={"offset": v}), _count),
    Target("name", lambda c, o, v: c.post("/api/tasks/query", json={"name": v}), _count, text=True),
    Target(
        "priority",
        lambda c, o, v: c.post(
            f"/api/queues/{o['queue']}/entries", json={"task_id": o["task"], "priority": v}
        ),
        _entries,
        bits=32,
    ),
    Target("pid", lambda c, o, v: c.post("/api/workers", json={"id": o["worker"], "pid": v}), _workers, 32),
    Target("id", lambda c, o, v: c.post("/api/workers", json={"id": v, "queues": []}), _workers, text=True),
    Target("size", lambda c, o, v: c.post("/api/models", json={**o["model_json"], "size": v}), _model),
    Target(
        "name", lambda c, o, v: c.post("/api/models", json={**o["model_json"], "name": v}), _model, text=True
    ),
    Target(
        "size",
        lambda c, o, v: c.put(
            f"/api/tasks/{o['task']}/artifacts", json={"task_id": o["task"], "name": "a", "size": v}
        ),
        _artifacts,
    ),
    Target(
        "name",
        lambda c, o, v: c.put(f"/api/tasks/{o['task']}/artifacts", json={"task_id": o["task"], "name": v}),
        _artifacts,
        text=True,
    ),
]


def _values(target: Target) -> list[Any]:
    if target.text:
        return [NUL, HUGE]
    return BIG + (INT32 if target.bits == 32 else [])


@pytest.fixture
def objects(server: ServerProcess) -> dict[str, Any]:
    """A task of alice's with a stored artifact, a model, a queue: real objects to attack."""
    name = uuid.uuid4().hex[:8]
    with server.client(server.alice.key) as alice, server.client(server.admin.key) as admin:
        task = alice.post("/api/tasks", json={"name": f"bounds-{name}", "progress": 7}).json()["id"]
        assert admin.post("/api/queues", json={"name": f"q-{name}"}).status_code == 200
        model = {"name": f"m-{name}", "task_id": task, "size": 5}
        answer = alice.post("/api/models", json=model)
        assert answer.status_code == 200, answer.text
        stored = alice.put(f"/api/tasks/{task}/artifacts", json={"task_id": task, "name": "a", "size": 3})
        assert stored.status_code == 204, stored.text
        model_json = answer.json()
    return {
        "task": task,
        "queue": f"q-{name}",
        "worker": f"w-{name}",
        "model": model_json["id"],
        "model_json": model_json,
    }


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: f"{t.field}-{TARGETS.index(t)}")
def test_a_value_the_column_cannot_hold_is_a_422_naming_the_field(
    server: ServerProcess, objects: dict[str, Any], target: Target
) -> None:
    key = server.admin.key if target.look is _workers else server.alice.key
    with server.client(key) as client:
        before = target.look(client, objects)
        for value in _values(target):
            answer = target.send(client, objects, value)
            shown = value if isinstance(value, int) else f"{value[:12]!r}..."
            said = f"{target.field}={shown}: {answer.status_code} {answer.text[:300]}"
            assert answer.status_code == 422, said
            assert target.field in answer.json()["message"], answer.text[:300]
            assert target.look(client, objects) == before, f"{target.field}={shown} changed the object"
        assert client.get("/api/health").json()["status"] == "ok"


def test_ids_with_nul_or_of_ten_megabytes_are_refused_not_failed(
    server: ServerProcess, objects: dict[str, Any]
) -> None:
    with server.client(server.alice.key) as client:
        for bad in ("a%00b", "f" * 5000):
            for path in (f"/api/tasks/{bad}", f"/api/models/{bad}", f"/api/queues/{bad}"):
                answer = client.get(path)
                assert answer.status_code in (404, 422), f"{path[:40]}: {answer.status_code}"
        # 10 MB in the path: no client library sends it, so over a plain socket.
        status = _raw_status(server, f"/api/tasks/{'f' * (10 << 20)}", server.alice.key)
        assert status in (0, 400, 404, 414, 422, 431), status
        for bad in ("a\x00b", "f" * (10 << 20)):
            answer = client.post("/api/tasks/get", json={"ids": [objects["task"], bad]})
            assert answer.status_code in (404, 422), answer.text[:300]
        # A body may not nest without end or carry a million members in one list.
        deep: Any = "x"
        for _ in range(200):
            deep = {"a": deep}
        answer = client.patch(f"/api/tasks/{objects['task']}", json={"runtime": deep})
        assert answer.status_code == 422 and "deeper" in answer.json()["message"]
        answer = client.post("/api/tasks/get", json={"ids": ["0" * 32] * 200_000})
        assert answer.status_code == 422 and "ids" in answer.json()["message"]
        assert client.get("/api/health").json()["status"] == "ok"


def _raw_status(server: ServerProcess, path: str, key: str) -> int:
    """The status of a GET sent over a plain socket; 0 when the server closed it unanswered."""
    host, port = server.url.removeprefix("http://").split(":")
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        try:
            connection.sendall(request.encode())
        except OSError:
            pass  # closed while we were still sending: the answer (if any) is readable
        try:
            first = connection.makefile("rb").readline()
        except OSError:
            return 0
    return int(first.split()[1]) if first.startswith(b"HTTP/") else 0


def test_the_store_refuses_the_same_values_without_a_server(tmp_path: Any, store_url: str) -> None:
    """Defence in depth: the embedded store (SQLite or PostgreSQL) names the field too."""
    from ductwork.core.errors import ValidationError
    from ductwork.core.queries import TaskQuery
    from ductwork.core.records import MetricEvent, ModelRecord, TaskRecord, Worker
    from ductwork.store import Store

    store = Store(store_url)
    try:
        task = store.create_task(TaskRecord(name="embedded"))
        store.ensure_queue("embedded-q")
        attempts: list[tuple[str, Callable[[], Any]]] = [
            ("progress", lambda: store.edit_task(task.id, {"progress": 2**31})),
            ("iteration", lambda: store.add_events([MetricEvent(task.id, "scalar", "t", "s", 2**63, 1.0)])),
            ("after", lambda: store.get_console(task.id, after=2**64)),
            ("limit", lambda: store.query_tasks(TaskQuery(limit=2**63))),
            ("offset", lambda: store.query_tasks(TaskQuery(offset=-1))),
            ("priority", lambda: store.enqueue(task.id, "embedded-q", priority=2**31)),
            ("pid", lambda: store.register_worker(Worker("w", pid=2**40))),
            ("size", lambda: store.put_model(ModelRecord(name="m", size=2**64))),
            ("name", lambda: store.edit_task(task.id, {"name": NUL})),
            ("comment", lambda: store.edit_task(task.id, {"comment": HUGE})),
        ]
        for field, attempt in attempts:
            with pytest.raises(ValidationError, match=field):
                attempt()
        assert store.get_task(task.id) == task
    finally:
        store.close()


WEB_BAD = ["-1", str(2**63), str(2**64), "-" + str(2**64), "1e400", "NaN", "%00", "x" * 5000]


def test_the_web_pages_answer_bad_parameters_without_a_server_error(
    server: ServerProcess, objects: dict[str, Any]
) -> None:
    """The web UI's routes are not in the OpenAPI schema the fuzzer reads: swept here, with a
    real task and run, each parameter given each bad value."""
    task = objects["task"]
    with server.client(server.alice.key) as alice:
        run = alice.post("/api/tasks", json={"name": "r", "type": "controller", "system_tags": ["pipeline"]})
        run_id = run.json()["id"]
        templates = [
            f"/tasks/{task}/console.json?after={{v}}",
            f"/tasks/{task}/console.json?limit={{v}}",
            f"/tasks/{task}/scalars.json?max_points={{v}}",
            f"/tasks/{task}/images/{{v}}",
            f"/tasks/{task}/artifact-preview/{{v}}",
            f"/tasks/{task}/artifacts/{{v}}",
            f"/runs/{run_id}/steps/{{v}}",
            "/compare?ids={v}",
            f"/compare?ids={task}&ids={{v}}",
            "/tasks?page={v}",
            "/tasks?status={v}",
            "/pipelines/{v}",
            "/runs/{v}",
            "/tasks/{v}",
        ]
        for template in templates:
            for value in WEB_BAD:
                path = template.format(v=value)
                answer = alice.get(path, headers={"Accept": "text/html"})
                assert answer.status_code < 500, f"{path[:80]}: {answer.status_code} {answer.text[:200]}"
        assert alice.get("/api/health").json()["status"] == "ok"
