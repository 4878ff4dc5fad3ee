"""Issue 13: the URLs a user is given for stored bytes, and renaming a task's model link.

`Artifact.url` / `Model.url` against a server are its download routes (ClearML gives its files
server's URL). Such a URL needs a key of this server (or a login session); it serves the bytes of
the one record it names and nothing else, however its path is spelled. Reads are everyone's on a
server (docs/security.md: every role reads every artifact), so another user's key reads it too.

`POST /api/tasks/{id}/models/rename` (`OutputModel.connect(task, name=...)`) is for whoever may
write to the task: its owner, an admin or an agent.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from attack import Account, ServerProcess

from ductwork.client.http import HttpBackend
from ductwork.core.records import ArtifactRecord, ModelRecord
from ductwork.sdk import urls


def _ok(answer: httpx.Response) -> Any:
    assert answer.status_code < 300, (answer.status_code, answer.text[:300])
    return answer.json() if answer.content else None


def _stored(server: ServerProcess, task_id: str) -> tuple[bytes, str, str]:
    """Bytes alice stores as artifact `points` and as a model's weights: (bytes, artifact URL,
    model URL), the URLs as the SDK gives them."""
    data = b"x,y\n" + uuid.uuid4().hex.encode()
    backend = HttpBackend(server.url, server.alice.key)
    with server.client(server.alice.key) as api:
        blob = _ok(
            api.put(f"/api/tasks/{task_id}/artifacts/points/content", params={"ext": ".csv"}, content=data)
        )
        record = ArtifactRecord(
            task_id, "points", type="file", uri=blob["uri"], hash=blob["hash"], size=blob["size"]
        )
        _ok(api.put(f"/api/tasks/{task_id}/artifacts", json=record.__dict__))
        model = _ok(api.post("/api/models", json={"name": "net", "task_id": task_id, **blob}))
    artifact_url = urls.artifact_url(backend, record)
    model_url = urls.model_url(backend, ModelRecord(id=model["id"], name="net", uri=blob["uri"]))
    assert artifact_url == f"{server.url}/api/tasks/{task_id}/artifacts/points/content"
    assert model_url == f"{server.url}/api/models/{model['id']}/content"
    return data, artifact_url, model_url


def test_the_url_of_stored_bytes_serves_them_to_a_key_of_this_server(
    server: ServerProcess, task_of: Any
) -> None:
    data, artifact_url, model_url = _stored(server, task_of(server.alice)["id"])
    for account in (server.alice, server.bob, server.carol, server.runner):
        with httpx.Client(headers={"Authorization": f"Bearer {account.key}"}, timeout=30) as reader:
            for url in (artifact_url, model_url):
                answer = reader.get(url)
                assert (answer.status_code, answer.content) == (200, data), (account.name, url)
    browser = server.login("carol", server.carol.password)
    assert browser.get(artifact_url).content == data  # a browser's login session opens it too


def test_the_url_without_a_key_of_this_server_serves_nothing(server: ServerProcess, task_of: Any) -> None:
    data, artifact_url, model_url = _stored(server, task_of(server.alice)["id"])
    forged = server.alice.key[:-4] + ("0000" if not server.alice.key.endswith("0000") else "1111")
    for headers in (
        {},
        {"Authorization": "Bearer null"},
        {"Authorization": f"Bearer {forged}"},
        {"Authorization": f"Basic {server.alice.key}"},
        {"Cookie": "ductwork_session=forged-session-token"},
        {"Cookie": f"ductwork_session={server.alice.key}"},  # an API key is no session
        {"X-Api-Key": server.alice.key},
    ):
        for url in (artifact_url, model_url, artifact_url + f"?api_key={server.alice.key}"):
            answer = httpx.get(url, headers=headers, timeout=30)
            assert answer.status_code == 401, (headers, url, answer.status_code)
            assert data not in answer.content


# What an attacker puts where an id or a name goes: climbs out, encoded or not, NUL, sizes no
# record has, other schemes.
HOSTILE_PARTS = [
    "..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "%2E%2E",
    "%00",
    "points%00",
    "p" * 5000,
    "%2Fetc%2Fpasswd",
    "file:%2F%2F%2Fetc%2Fpasswd",
]
HOSTILE_PATHS = [
    *(f"/api/tasks/{{task}}/artifacts/{part}/content" for part in HOSTILE_PARTS),
    *(f"/api/tasks/{part}/artifacts/points/content" for part in HOSTILE_PARTS),
    *(f"/api/models/{part}/content" for part in HOSTILE_PARTS),
    "/api/tasks/{task}0/artifacts/points/content",
    "/api/models/" + "9" * 50_000 + "/content",
]


@pytest.mark.parametrize("path", HOSTILE_PATHS, ids=lambda path: path[:60])
def test_a_url_naming_anything_else_serves_nothing(server: ServerProcess, task_of: Any, path: str) -> None:
    task = task_of(server.alice)["id"]
    data, _, _ = _stored(server, task)
    with server.client(server.alice.key) as api:
        answer = api.get(path.format(task=task))
    assert 400 <= answer.status_code < 500, (path[:80], answer.status_code, answer.text[:200])
    assert data not in answer.content and b"root:" not in answer.content


def test_a_record_cannot_point_its_url_outside_the_storage(server: ServerProcess, task_of: Any) -> None:
    task = task_of(server.alice)["id"]
    with server.client(server.alice.key) as api:
        for uri in (
            "/etc/passwd",
            "file:///etc/passwd",
            str(server.home / "ductwork.db"),
            "../../etc/passwd",
        ):
            record = {"task_id": task, "name": "planted", "type": "file", "uri": uri, "hash": "", "size": 1}
            assert api.put(f"/api/tasks/{task}/artifacts", json=record).status_code == 422, uri
            model = {"name": "planted", "task_id": task, "uri": uri}
            assert api.post("/api/models", json=model).status_code == 422, uri
        answer = api.get(f"/api/tasks/{task}/artifacts/planted/content")
        assert answer.status_code == 404 and b"root:" not in answer.content


# -- renaming a model link -----------------------------------------------------------------------


def _linked(server: ServerProcess, task_of: Any) -> tuple[str, dict[str, Any]]:
    """Alice's task with her model linked as output `net`: (task id, the link)."""
    task = task_of(server.alice)["id"]
    with server.client(server.alice.key) as api:
        model = _ok(api.post("/api/models", json={"name": "net", "task_id": task}))
        link = {"task_id": task, "model_id": model["id"], "role": "output", "name": "net"}
        assert api.post(f"/api/tasks/{task}/models", json=link).status_code == 204
    return task, link


def _links(server: ServerProcess, task: str) -> list[tuple[str, str]]:
    with server.client(server.alice.key) as api:
        return [(link["role"], link["name"]) for link in _ok(api.get(f"/api/tasks/{task}/models"))]


def _rename(client: httpx.Client, task: str, link: dict[str, Any], name: object) -> httpx.Response:
    return client.post(f"/api/tasks/{task}/models/rename", json={"link": link, "name": name})


def test_only_who_may_write_to_the_task_renames_its_model_link(server: ServerProcess, task_of: Any) -> None:
    task, link = _linked(server, task_of)
    refused: list[tuple[Account | None, int]] = [(None, 401), (server.bob, 403), (server.carol, 403)]
    for account, status in refused:
        with server.client(account.key if account else None) as client:
            assert _rename(client, task, link, "best").status_code == status, account
    with httpx.Client(base_url=server.url, headers={"Cookie": "ductwork_session=forged"}) as client:
        assert _rename(client, task, link, "best").status_code == 401
    browser = server.login("alice", server.alice.password)  # her session, but no CSRF token
    answer = browser.post(f"/api/tasks/{task}/models/rename", json={"link": link, "name": "best"})
    assert answer.status_code == 403
    assert _links(server, task) == [("output", "net")]

    with server.client(server.alice.key) as alice:
        assert _rename(alice, task, link, "best").status_code == 204
        assert _rename(alice, task, link, "best").status_code == 204  # a repeat: done already
    with server.client(server.runner.key) as agent:  # an agent running it may
        assert _rename(agent, task, {**link, "name": "best"}, "chosen").status_code == 204
    assert _links(server, task) == [("output", "chosen")]


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"name": "a\x00b"}, 422),
        ({"name": ""}, 422),
        ({"name": "n" * 513}, 422),
        ({"name": 7}, 422),
        ({"name": None}, 422),
        ({"link": {"model_id": "9" * 32}}, 404),
        ({"link": {"role": "sideways"}}, 422),
        ({"link": {"name": "x\x00"}}, 422),
        ({"link": {"task_id": "f" * 32}}, 422),  # not the task of the path
        ({"link": {"task_id": "f" * 5000}}, 422),
        ({"path": "f" * 32}, 404),
        ({"path": "f" * 5000}, 404),
        ({"path": "..%2F..%2Fetc"}, 404),
    ],
    ids=lambda value: str(value)[:40],
)
def test_a_hostile_rename_changes_nothing(
    server: ServerProcess, task_of: Any, change: dict[str, Any], status: int
) -> None:
    task, link = _linked(server, task_of)
    body = {"link": {**link, **change.get("link", {})}, "name": change.get("name", "best")}
    path = change.get("path", task)
    with server.client(server.alice.key) as alice:
        answer = alice.post(f"/api/tasks/{path}/models/rename", json=body)
    if "path" in change:  # the link names alice's task, the path another: refused either way
        assert answer.status_code in (404, 405, 422), answer.text[:200]
    else:
        assert answer.status_code == status, answer.text[:200]
    assert _links(server, task) == [("output", "net")]
