"""Findings 1 and 2: a stored location reads only the server's storage, never its own files.

An ordinary user (alice) records artifacts, models and image events whose location points at
the server's files (its live SQLite database, a secret file beside it, /etc/passwd) in every
spelling fsspec or the OS might understand; each is refused with a 422 naming the field and
nothing is stored. Records planted straight into the server's store (as if written before the
rule, or by another path) are refused when downloaded, previewed or shown, and deleting them
deletes no file. And after all of it, every acknowledged write is still in the database.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from attack import ServerProcess, start_server, stop_server

from ductwork.core.queries import EventQuery
from ductwork.core.records import ArtifactRecord, MetricEvent

SECRET = b"top-secret-" + uuid.uuid4().hex.encode()
SQLITE_HEADER = b"SQLite format 3"


def db_url(server: ServerProcess) -> str:
    return server.env.get("DUCTWORK_DB_URL") or f"sqlite:///{server.home / 'ductwork.db'}"


def is_sqlite(server: ServerProcess) -> bool:
    return db_url(server).startswith("sqlite")


@pytest.fixture(scope="module")
def targets(server: ServerProcess) -> dict[str, Path]:
    """Files of the server's machine an attacker wants: a secret beside its home, its database,
    and a symlink planted inside its artifact root that points at the secret."""
    secret = server.home.parent / f"secret-{uuid.uuid4().hex[:8]}.txt"
    secret.write_bytes(SECRET)
    root = server.home / "artifacts"
    (root / "blobs" / "zz").mkdir(parents=True, exist_ok=True)
    link = root / "blobs" / "zz" / "innocent.npy"
    if not link.is_symlink():
        link.symlink_to(secret)
    return {"secret": secret, "db": server.home / "ductwork.db", "link": link, "root": root}


def hostile_uris(targets: dict[str, Path]) -> list[str]:
    secret, db, root = str(targets["secret"]), str(targets["db"]), str(targets["root"])
    rel_db = os.path.relpath(db, root)
    uris = []
    for target in (secret, db, "/etc/passwd"):
        uris += [
            target,
            f"file://{target}",
            f"file://localhost{target}",
            f"local://{target}",
            f"LOCAL://{target}",
            f"simplecache::file://{target}",
            f"filecache::file://{target}",
            f"blockcache::file://{target}",
            f"simplecache::{target}",
            f"file://otherhost{target}",
            f"file:{target}",
            f"file:///{target}",
        ]
    escape = "/".join([root, rel_db])  # root/../ductwork.db
    uris += [
        escape,
        f"file://{escape}",
        f"file://{root}/%2e%2e/ductwork.db",
        f"file://{root}/%2E%2E%2Fductwork.db",
        f"file://{root}/%252e%252e/ductwork.db",
        f"file://{root}/%25252e%25252e/ductwork.db",
        f"file://{root}/%c0%ae%c0%ae/ductwork.db",
        f"{root}/%2e%2e/ductwork.db",
        f"{root}\\..\\ductwork.db",
        f"{root}/..\\ductwork.db",
        f"{root}/\uff0e\uff0e/ductwork.db",
        f"{root}/\u2024\u2024/ductwork.db",
        f"{root}/blobs/\u202e/../../ductwork.db",
        f"{db}\x00.png",
        f"file://{db}%00.png",
        f"{root}/.ductwork-server",
        str(targets["link"]),
        f"file://{targets['link']}",
        "~/.ssh/id_rsa",
        "ductwork.db",
        "artifacts/../ductwork.db",
        "memory://anything/x",
        "zip://ductwork.db::file://" + db,
        "data:text/html,<script>alert(1)</script>",
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://127.0.0.1:5432/",
        "http://127.0.0.1:8008/api/whoami",
        "s3://someone-elses-bucket/x.npy",
        "gs://bucket/x",
    ]
    return uris


def assert_nothing_leaked(answer: httpx.Response) -> None:
    assert SECRET not in answer.content, answer.request.url
    assert SQLITE_HEADER not in answer.content, answer.request.url
    assert b"root:x:0:0" not in answer.content, answer.request.url


# -- at record time --------------------------------------------------------------------------


def test_hostile_locations_are_refused_when_recorded(
    server: ServerProcess, task_of: Any, targets: dict[str, Path]
) -> None:
    task = task_of(server.alice)
    with server.client(server.alice.key) as api:
        for number, uri in enumerate(hostile_uris(targets)):
            name = f"loot-{number}"
            answer = api.put(
                f"/api/tasks/{task['id']}/artifacts",
                json={"task_id": task["id"], "name": name, "type": "file", "uri": uri},
            )
            assert answer.status_code == 422, (uri, answer.status_code, answer.text)
            # named by the storage rule, or (a NUL) by the input bounds before it
            message = answer.json()["message"]
            assert f"artifact '{name}': uri" in message or ("uri" in message and "NUL" in message), message

            model = api.post("/api/models", json={"name": f"m-{number}", "task_id": task["id"], "uri": uri})
            assert model.status_code == 422, (uri, model.status_code, model.text)
            message = model.json()["message"]
            assert f"model 'm-{number}': uri" in message or ("uri" in message and "NUL" in message), message

            for payload, field in (({"artifact": {"uri": uri}}, "artifact.uri"), ({"uri": uri}, "uri")):
                event = {"task_id": task["id"], "kind": "image", "title": "sample", "payload": payload}
                answer = api.post("/api/metrics", json=[event])
                assert answer.status_code == 422, (uri, answer.status_code, answer.text)
                message = answer.json()["message"]
                assert f"payload.{field}" in message or ("payload" in message and "NUL" in message), message
            if not uri.lower().startswith(("http://", "https://")):
                event = {"task_id": task["id"], "kind": "image", "title": "u", "payload": {"url": uri}}
                assert api.post("/api/metrics", json=[event]).status_code == 422, uri
            assert_nothing_leaked(answer)
        # nothing was stored
        assert api.get(f"/api/tasks/{task['id']}/artifacts").json() == []
        models = api.post("/api/models/query", json={}).json()  # (other tests' models are on the server too)
        assert not [m for m in models if m["task_id"] == task["id"]]
        images = api.post("/api/metrics/query", json={"task_id": task["id"], "kind": "image"}).json()
        assert images == []


def test_locations_in_the_servers_storage_are_recorded_and_served(
    server: ServerProcess, task_of: Any
) -> None:
    """The legitimate path still works: bytes uploaded to the server, recorded, read back."""
    task = task_of(server.alice)
    with server.client(server.alice.key) as api:
        stored = api.put(
            f"/api/tasks/{task['id']}/artifacts/weights/content", params={"ext": ".bin"}, content=b"\x01" * 10
        ).json()
        record = {"task_id": task["id"], "name": "weights", "type": "file", **stored}
        assert api.put(f"/api/tasks/{task['id']}/artifacts", json=record).status_code == 204
        model = api.post("/api/models", json={"name": "w", "task_id": task["id"], "uri": stored["uri"]})
        assert model.status_code == 200, model.text
        event = {
            "task_id": task["id"],
            "kind": "image",
            "title": "t",
            "payload": {"url": "https://x.org/a.png"},
        }
        assert api.post("/api/metrics", json=[event]).status_code == 204  # a web link: never fetched
        answer = api.get(f"/api/tasks/{task['id']}/artifacts/weights/content")
        assert answer.status_code == 200 and answer.content == b"\x01" * 10


# -- records planted in the store -------------------------------------------------------------


def plantable(targets: dict[str, Path]) -> list[str]:
    """The hostile locations a store can hold (it refuses NUL characters itself)."""
    return [uri for uri in hostile_uris(targets) if "\x00" not in uri]


def plant(server: ServerProcess, task_id: str, uris: list[str]) -> list[str]:
    """Write records with hostile locations straight into the server's store (this test runs
    on the server's machine), as a record from before the rule would be."""
    from ductwork.store import Store

    store = Store(db_url(server))
    try:
        names = []
        for number, uri in enumerate(uris):
            name = f"planted-{number}"
            store.put_artifact(ArtifactRecord(task_id, name, "file", uri=uri, content_type="text/html"))
            names.append(name)
        store.add_events(
            [
                MetricEvent(task_id, "image", "planted", str(n), n, None, {"artifact": {"uri": u}})
                for n, u in enumerate(uris)
            ]
        )
        return names
    finally:
        store.close()


def test_planted_records_are_refused_when_read_and_deleting_them_deletes_no_file(
    server: ServerProcess, task_of: Any, targets: dict[str, Path]
) -> None:
    task = task_of(server.alice)
    uris = plantable(targets)
    names = plant(server, task["id"], uris)
    before = {path: path.read_bytes() for path in (targets["secret"],)}
    browser = server.login("alice", server.alice.password)
    with server.client(server.alice.key) as api:
        for name, uri in zip(names, uris, strict=True):
            quoted = quote(name, safe="")
            answer = api.get(f"/api/tasks/{task['id']}/artifacts/{quoted}/content")
            assert answer.status_code == 404, (uri, answer.status_code)
            assert_nothing_leaked(answer)
            for path in (
                f"/tasks/{task['id']}/artifacts/{quoted}",
                f"/tasks/{task['id']}/artifacts/{quoted}?inline=true",
            ):
                answer = browser.get(path)
                assert answer.status_code == 404, (uri, path, answer.status_code)
                assert_nothing_leaked(answer)
            preview = browser.get(f"/tasks/{task['id']}/artifact-preview/{quoted}")
            assert preview.status_code in (204, 404), (uri, preview.status_code)
            assert_nothing_leaked(preview)
        for index in range(len(uris)):
            answer = browser.get(f"/tasks/{task['id']}/images/{index}")
            assert answer.status_code == 404, (uris[index], answer.status_code)
            assert_nothing_leaked(answer)
        for page in (
            f"/tasks/{task['id']}?tab=artifacts",
            f"/tasks/{task['id']}?tab=plots",
            f"/tasks/{task['id']}/plots.json",
        ):
            answer = browser.get(page)
            assert answer.status_code == 200
            assert_nothing_leaked(answer)
        for name in names:
            assert api.delete(f"/api/tasks/{task['id']}/artifacts/{quote(name, safe='')}").status_code == 204
    assert {path: path.read_bytes() for path in before} == before
    assert targets["link"].is_symlink() and targets["db"].exists() == is_sqlite(server)


def test_a_symlink_inside_the_root_pointing_out_is_refused(
    server: ServerProcess, task_of: Any, targets: dict[str, Path]
) -> None:
    task = task_of(server.alice)
    with server.client(server.alice.key) as api:
        record = {"task_id": task["id"], "name": "innocent", "type": "numpy", "uri": str(targets["link"])}
        answer = api.put(f"/api/tasks/{task['id']}/artifacts", json=record)
        assert answer.status_code == 422 and "outside" in answer.json()["message"], answer.text
    [name] = plant(server, task["id"], [str(targets["link"])])
    with server.client(server.alice.key) as api:
        answer = api.get(f"/api/tasks/{task['id']}/artifacts/{name}/content")
        assert answer.status_code == 404
        assert_nothing_leaked(answer)


# -- finding 2: the live database ---------------------------------------------------------------


def test_attacks_on_the_live_database_lose_no_acknowledged_write(
    server: ServerProcess, task_of: Any, targets: dict[str, Path]
) -> None:
    if not is_sqlite(server):
        pytest.skip("PostgreSQL has no database file on the server's disk to attack")
    acknowledged = [task_of(server.alice)["id"] for _ in range(5)]
    db = str(targets["db"])
    attacks = [u for u in plantable(targets) if "ductwork.db" in u]
    assert len(attacks) >= 20
    owner = task_of(server.alice)
    acknowledged.append(owner["id"])
    with server.client(server.alice.key) as api:
        for number, uri in enumerate(attacks):
            record = {"task_id": owner["id"], "name": f"db-{number}", "type": "file", "uri": uri}
            assert api.put(f"/api/tasks/{owner['id']}/artifacts", json=record).status_code == 422
            acknowledged.append(task_of(server.alice)["id"])  # writes between the attacks
    names = plant(server, owner["id"], attacks)
    browser = server.login("alice", server.alice.password)
    with server.client(server.alice.key) as api:
        for name in names:
            assert api.get(f"/api/tasks/{owner['id']}/artifacts/{name}/content").status_code == 404
            assert browser.get(f"/tasks/{owner['id']}/artifacts/{name}?inline=true").status_code == 404
            browser.get(f"/tasks/{owner['id']}/artifact-preview/{name}")
            acknowledged.append(task_of(server.alice)["id"])
        for index in range(len(names)):
            assert browser.get(f"/tasks/{owner['id']}/images/{index}").status_code == 404
    # Another process on the server's machine opens and closes the database (the step that
    # deleted the WAL when the server had dropped its locks), then the server writes on.
    listed = server.cli("keys", "list")
    assert "alice" in listed.stdout and "bob" in listed.stdout
    acknowledged += [task_of(server.alice)["id"] for _ in range(5)]
    listed_again = server.cli("keys", "list")
    assert listed_again.stdout.count("tests") == listed.stdout.count("tests")
    with server.client(server.alice.key) as api:
        found = api.post("/api/tasks/get", json={"ids": acknowledged}).json()
        assert sorted(t["id"] for t in found) == sorted(acknowledged)
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as check:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        stored = {row[0] for row in check.execute("SELECT id FROM tasks")}
    assert set(acknowledged) <= stored
    from ductwork.store import Store

    store = Store(db_url(server))
    try:
        assert len(store.get_events(EventQuery(owner["id"], kind="image"))) == len(names)
    finally:
        store.close()


# -- an admin's allowed prefix -----------------------------------------------------------------


def test_only_the_prefixes_an_admin_allowed_are_recorded(tmp_path: Path) -> None:
    started = start_server(
        tmp_path / "home",
        extra_env={"DUCTWORK_ALLOWED_STORAGE": "s3://team-bucket/exp/, https://files.example.org/pub"},
    )
    try:
        with started.client(started.alice.key) as api:
            task = api.post("/api/tasks", json={"name": "t"}).json()
            storage = api.get("/api/storage").json()
            assert storage["allowed"] == ["s3://team-bucket/exp/", "https://files.example.org/pub"]
            for uri, status in (
                ("s3://team-bucket/exp/blobs/ab/x.npy", 204),
                ("https://files.example.org/pub/x.bin", 204),
                ("s3://team-bucket/expired/x.npy", 422),
                ("s3://team-bucket/exp/../secret/x", 422),
                ("s3://team-bucket/exp/%2e%2e/secret/x", 422),
                ("simplecache::s3://team-bucket/exp/x", 422),
                ("https://files.example.org.evil.example/pub/x", 422),
                ("https://files.example.org/pub@evil.example/x", 422),  # not below pub/
                ("https://files.example.org@evil.example/pub/x", 422),
                ("https://files.example.org/public/x", 422),
            ):
                record = {"task_id": task["id"], "name": "a", "type": "file", "uri": uri}
                answer = api.put(f"/api/tasks/{task['id']}/artifacts", json=record)
                assert answer.status_code == status, (uri, answer.text)
    finally:
        stop_server(started)


def test_a_prefix_that_reaches_local_files_stops_the_server_with_the_setting_named(tmp_path: Path) -> None:
    import subprocess
    import sys

    from attack import base_env

    env = {**base_env(), "DUCTWORK_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-m", "ductwork", "server", "--port", "1", "--allow-storage", "local:///"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "--allow-storage" in done.stderr and "local" in done.stderr
