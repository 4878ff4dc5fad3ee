"""A server whose default storage is S3, end to end, against a real S3-compatible server process.

`ductwork server --artifacts-uri s3://<main>/artifacts --allow-storage s3://<other>/team/` runs on
a machine of its own with the standard AWS variables (tests/machines.py, tests/s3server.py). Two
client machines talk to it: one with credentials for the object store, which writes and reads
the buckets directly (the server's upload route is never called), and one without any, whose
bytes go through the server to exactly where its task says. Downloads and previews come from
the bucket through the server's API and pages; the storage rule still refuses every location
outside the root and the allowed prefix, however it is spelled.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from machines import Machine, Machines, Server, installed_env
from s3server import S3Server, s3_server  # noqa: F401  (the fixture)

pytestmark = pytest.mark.slow

# Writes artifacts of every kind as one task; prints the task, its records and the calls of the
# server's upload route (with the `root` each named). argv: name, output_uri ("" for none).
# What a reader finds in the five artifacts (the same code summarises what was written).
SUMMARY = r"""
def summary(array, table, notes, picture, settings):
    return {
        "array": int(array.sum()),
        "table": table["number"].tolist(),
        "notes": notes.read_text(),
        "picture": [*picture.size, *picture.getpixel((0, 0))],
        "settings": settings["values"][-1],
    }
"""

# Writes artifacts of every kind as one task, each with bytes of its own (a fresh salt, so no
# cache on any machine holds them yet); prints the task, its records, a summary of what it
# wrote and the calls of the server's upload route (with the `root` each named).
# argv: name, output_uri ("" for none), and "extras" for a debug image and a model too.
WRITE = (
    SUMMARY
    + r"""
import json, random, sys
from pathlib import Path
import numpy as np, pandas as pd
from PIL import Image
from ductwork import Task
from ductwork.client.http import HttpBackend

uploads = []
send = HttpBackend.upload_artifact_content
def counted(self, *args, **options):
    uploads.append(options.get("root"))
    return send(self, *args, **options)
HttpBackend.upload_artifact_content = counted

name, output_uri = sys.argv[1], sys.argv[2] or None
salt = random.randrange(1, 200)  # a pixel value (the debug image, the weights)
unique = random.getrandbits(40)  # bytes no earlier write of any test shares: no cache holds them
task = Task.init(project_name="s3 storage", task_name=name, output_uri=output_uri)
Path("notes.csv").write_text(f"city,people\nOslo,{unique}\nLima,10000000\n")
objects = {
    "array": np.arange(1000, dtype="int64") + unique,
    "table": pd.DataFrame({"letter": list("abc"), "number": [1, 2, unique]}),
    "notes": Path("notes.csv"),
    "picture": Image.new("RGB", (4, 3), (salt, unique % 256, unique // 256 % 256)),
    "settings": {"values": [*range(5000), unique]},  # too big to keep inline
}
for key, value in objects.items():
    task.upload_artifact(key, value, wait_on_upload=True)
records = {key: {"uri": a.url, "hash": a.hash} for key, a in Task.get_task(task_id=task.id).artifacts.items()}
extras = {}
if sys.argv[3:] == ["extras"]:  # a debug image and a model's weights, stored the same way
    from ductwork import OutputModel
    red = np.full((3, 4, 3), salt, dtype=np.uint8)
    task.get_logger().report_image("sample", "red", iteration=0, image=red)
    Path("weights.bin").write_bytes(bytes([salt]) * 5000)
    model = OutputModel(task=task, name="weights")
    extras = {"model": model.id, "weights": model.update_weights("weights.bin")}
task.close()
written = {"task": task.id, "records": records, "uploads": uploads, "summary": summary(**objects)}
print(json.dumps({**written, **extras}))
"""
)

# Reads every artifact of a task back as objects; prints their summary and the downloads
# through the server. argv: task id.
READ = (
    SUMMARY
    + r"""
import json, sys
from ductwork import Task
from ductwork.client.http import HttpBackend

downloads = []
fetch = HttpBackend.download_artifact_content
def counted(self, task_id, name):
    downloads.append(name)
    return fetch(self, task_id, name)
HttpBackend.download_artifact_content = counted

artifacts = Task.get_task(task_id=sys.argv[1]).artifacts
found = summary(**{key: artifacts[key].get() for key in ("array", "table", "notes", "picture", "settings")})
print(json.dumps({"summary": found, "downloads": sorted(downloads)}))
"""
)

KINDS = ["array", "notes", "picture", "settings", "table"]


@dataclass
class World:
    s3: S3Server
    server: Server
    direct: Machine  # has credentials for the object store
    bare: Machine  # has none: everything through the server
    main: str  # s3://<bucket>: the server's artifact root is `main`/artifacts
    other: str  # s3://<bucket>: `other`/team/ is allowed
    lookalike: str  # s3://<other>-evil: a bucket whose name starts like the allowed one
    missing: str  # s3://<bucket that does not exist>/: allowed, but nobody can write there

    @property
    def root(self) -> str:
        return f"{self.main}/artifacts"


@pytest.fixture(scope="module")
def world(module_machines: Machines, s3_server: S3Server) -> World:  # noqa: F811
    main, other = s3_server.bucket(), s3_server.bucket()
    lookalike = s3_server.bucket(f"{other[len('s3://') :]}-evil")
    missing = f"s3://missing-{uuid.uuid4().hex[:12]}/"
    server = module_machines.server(
        artifacts_uri=f"{main}/artifacts",
        allow_storage=[f"{other}/team/", missing],
        **s3_server.aws_variables(),
    )
    direct = module_machines.client("with-keys", **s3_server.aws_variables())
    bare = module_machines.client("no-keys", **s3_server.aws_variables(credentials=False))
    return World(s3_server, server, direct, bare, main, other, lookalike, missing)


def write(machine: Machine, name: str, output_uri: str = "", *more: str) -> dict[str, Any]:
    answer: dict[str, Any] = json.loads(machine.run(WRITE, name, output_uri, *more).strip().splitlines()[-1])
    return answer


def read(machine: Machine, task_id: str) -> dict[str, Any]:
    answer: dict[str, Any] = json.loads(machine.run(READ, task_id).strip().splitlines()[-1])
    return answer


def assert_stored_under(world: World, records: dict[str, Any], root: str) -> None:
    """Every record points under `root`, and the object store holds bytes with its hash there."""
    import hashlib

    fs = world.s3.filesystem()
    assert sorted(records) == KINDS
    for name, record in records.items():
        assert record["uri"].startswith(f"{root}/blobs/{record['hash'][:2]}/"), (name, record)
        data = fs.cat(record["uri"])
        assert hashlib.sha256(data).hexdigest() == record["hash"], name


def api(world: World, key: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key or world.server.user_key}"}
    return httpx.Client(base_url=world.server.url, headers=headers, timeout=60)


@contextlib.contextmanager
def browser(world: World) -> Iterator[httpx.Client]:
    """alice logged in through the login form, as a browser."""
    with httpx.Client(base_url=world.server.url, timeout=60, headers={"Accept": "text/html"}) as client:
        page = client.get("/login").text
        marker = 'name="csrf_token" value="'
        form = {"username": "alice", "password": world.server.password, "next": "/"}
        if marker in page:
            start = page.index(marker) + len(marker)
            form["csrf_token"] = page[start : page.index('"', start)]
        answer = client.post("/login", data=form, headers={"Origin": world.server.url})
        assert answer.status_code in (200, 303), answer.text[:300]
        yield client


# -- where the bytes go ----------------------------------------------------------------------


def test_the_server_says_its_storage_is_s3(world: World) -> None:
    answer = world.server.api.storage()
    assert answer["artifacts_root"] == world.root
    assert answer["remote"] is True
    assert answer["allowed"] == [f"{world.other}/team/", world.missing]


def test_a_machine_with_credentials_writes_and_reads_the_bucket_directly(world: World) -> None:
    written = write(world.direct, "direct")
    assert written["uploads"] == []  # the server's upload route was never called
    assert_stored_under(world, written["records"], world.root)
    found = read(world.direct, written["task"])
    assert found == {"summary": written["summary"], "downloads": []}


def test_a_machine_without_credentials_goes_through_the_server(world: World) -> None:
    written = write(world.bare, "through the server")
    assert written["uploads"] == [None] * len(KINDS)  # the server's own storage
    assert_stored_under(world, written["records"], world.root)
    found = read(world.bare, written["task"])
    assert found == {"summary": written["summary"], "downloads": KINDS}
    # and each reads what the other wrote, its own way
    assert read(world.direct, written["task"]) == {"summary": written["summary"], "downloads": []}
    again = write(world.direct, "direct again")
    assert read(world.bare, again["task"]) == {"summary": again["summary"], "downloads": KINDS}


@pytest.mark.parametrize("machine", ["direct", "bare"])
def test_an_allowed_output_uri_holds_the_bytes_whoever_writes(world: World, machine: str) -> None:
    client = getattr(world, machine)
    output_uri = f"{world.other}/team/{machine}-{uuid.uuid4().hex[:6]}"
    written = write(client, f"output_uri {machine}", output_uri)
    expected = [] if machine == "direct" else [output_uri] * len(KINDS)
    assert written["uploads"] == expected  # through the server, to the task's own output_uri
    assert_stored_under(world, written["records"], output_uri)
    assert read(world.bare, written["task"]) == {"summary": written["summary"], "downloads": KINDS}


@pytest.mark.parametrize("machine", ["direct", "bare"])
@pytest.mark.parametrize("where", ["lookalike", "sibling", "root bucket"])
def test_an_output_uri_outside_the_allowed_prefixes_is_refused(
    world: World, machine: str, where: str
) -> None:
    output_uri = {
        "lookalike": f"{world.lookalike}/team/x",  # s3://<other>-evil/ is not s3://<other>/
        "sibling": f"{world.other}/teammates/x",  # whole segments: team/ does not cover teammates/
        "root bucket": f"{world.main}/elsewhere",  # the root's bucket, outside the root
    }[where]
    done = getattr(world, machine).execute(
        [sys.executable, "-c", WRITE, f"refused {where}", output_uri], check=False
    )
    assert done.returncode != 0
    assert output_uri in done.stderr and "--allow-storage" in done.stderr, done.stderr[-2000:]
    bucket, _, prefix = output_uri[len("s3://") :].partition("/")
    assert not world.s3.filesystem().exists(f"{bucket}/{prefix}")


def test_storage_that_the_server_cannot_reach_either_is_named(world: World) -> None:
    output_uri = f"{world.missing}run"
    done = world.bare.execute([sys.executable, "-c", WRITE, "nowhere", output_uri], check=False)
    assert done.returncode != 0
    assert f"cannot reach output_uri {output_uri!r}" in done.stderr, done.stderr[-2000:]
    assert "cannot store it there either" in done.stderr


# -- downloads and previews through the server ---------------------------------------------------


@pytest.fixture(scope="module")
def stored(world: World) -> dict[str, Any]:
    """A task written by the machine without credentials (its bytes in the server's bucket),
    with a debug image and a model's weights besides its artifacts."""
    return write(world.bare, "shown in the UI", "", "extras")


def test_api_downloads_stream_from_the_bucket(world: World, stored: dict[str, Any]) -> None:
    fs = world.s3.filesystem()
    with api(world) as client:
        for name, record in stored["records"].items():
            answer = client.get(f"/api/tasks/{stored['task']}/artifacts/{name}/content")
            assert answer.status_code == 200, answer.text
            assert answer.content == fs.cat(record["uri"])
            assert answer.headers["x-content-sha256"] == record["hash"]
            assert answer.headers["content-disposition"].startswith("attachment")
            assert answer.headers["x-content-type-options"] == "nosniff"


def test_pages_preview_artifacts_from_the_bucket(world: World, stored: dict[str, Any]) -> None:
    task = stored["task"]
    with browser(world) as client:
        page = client.get(f"/tasks/{task}")
        assert page.status_code == 200
        previews = {name: client.get(f"/tasks/{task}/artifact-preview/{name}").text for name in KINDS}
        image = client.get(f"/tasks/{task}/artifacts/picture", params={"inline": "true"})
    assert "letter" in previews["table"] and "number" in previews["table"]
    assert "(1000,)" in previews["array"] and "int64" in previews["array"]
    assert "Oslo" in previews["notes"] and "Lima" in previews["notes"]
    # read from the bucket: far more than the short text stored with the record
    assert "4000" in previews["settings"]
    assert "mean" in previews["array"]
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert image.headers["content-disposition"].startswith("inline")
    assert image.content.startswith(b"\x89PNG")


def test_debug_images_and_model_weights_come_from_the_bucket(world: World, stored: dict[str, Any]) -> None:
    fs = world.s3.filesystem()
    assert stored["weights"].startswith(f"{world.root}/")
    with api(world) as client:
        weights = client.get(f"/api/models/{stored['model']}/content")
        assert weights.status_code == 200, weights.text
        assert weights.content == fs.cat(stored["weights"]) == bytes([stored["summary"]["picture"][2]]) * 5000
        (event,) = client.post("/api/metrics/query", json={"task_id": stored["task"], "kind": "image"}).json()
    assert json.dumps(event["payload"]).count(f"{world.root}/blobs/") == 1, event["payload"]
    with browser(world) as client:
        picture = client.get(f"/tasks/{stored['task']}/images/0")
    assert picture.status_code == 200, picture.text
    assert picture.headers["content-type"] == "image/png"
    assert picture.content.startswith(b"\x89PNG")


def test_a_deleted_artifact_is_no_longer_served(world: World) -> None:
    written = write(world.bare, "to delete")
    with api(world) as client:
        url = f"/api/tasks/{written['task']}/artifacts/array"
        assert client.get(f"{url}/content").status_code == 200
        assert client.delete(url).status_code == 204
        assert client.get(f"{url}/content").status_code == 404


def test_bytes_gone_from_the_bucket_are_a_404_naming_them(world: World) -> None:
    written = write(world.bare, "to lose")
    world.s3.filesystem().rm(written["records"]["array"]["uri"])
    with api(world) as client:
        answer = client.get(f"/api/tasks/{written['task']}/artifacts/array/content")
    assert answer.status_code == 404
    assert "the stored file of artifact 'array'" in answer.json()["message"]
    done = world.bare.execute([sys.executable, "-c", READ, written["task"]], check=False)
    assert done.returncode != 0 and "is missing" in done.stderr, done.stderr[-2000:]


# -- attacks ------------------------------------------------------------------------------------


def test_the_upload_route_writes_only_where_the_rule_allows(world: World, stored: dict[str, Any]) -> None:
    fs = world.s3.filesystem()
    other = world.other[len("s3://") :]
    hostile = [
        f"{world.lookalike}/team/",
        f"{world.missing.rstrip('/')}-evil/x",  # s3://<bucket>-evil/ is not the allowed s3://<bucket>/
        f"{world.other}/teammates",
        f"{world.other}/team/../loot",
        f"{world.other}/team/%2e%2e/loot",
        f"s3://{world.s3.endpoint.split('//')[1]}@{other}/team/x",
        f"s3://key:secret@{other}/team/x",
        f"{world.other}/team/x?versionId=1",
        f"{world.other}/team/x#frag",
        f"S3://{other}/team/x::file:///etc",
        "file:///etc",
        "/etc",
        "memory://team/x",
        f"http://{world.s3.endpoint.split('//')[1]}/{other}/team/x",
    ]
    with api(world) as client:
        url = f"/api/tasks/{stored['task']}/artifacts/loot/content"
        for root in hostile:
            answer = client.put(url, params={"root": root}, content=b"payload")
            assert answer.status_code == 422, (root, answer.status_code, answer.text)
            assert "output_uri" in answer.json()["message"], answer.text
        nul = client.put(url, params={"root": f"{world.other}/team/x\x00y"}, content=b"payload")
        assert nul.status_code == 422
        name = client.put(f"/api/tasks/{stored['task']}/artifacts/lo%00ot/content", content=b"payload")
        assert name.status_code == 422
    assert not fs.exists(f"{world.lookalike[len('s3://') :]}/team")
    assert not fs.exists(f"{other}/teammates")
    assert not fs.exists(f"{other}/loot")


def test_records_outside_the_rule_are_refused_and_never_read(world: World, stored: dict[str, Any]) -> None:
    fs = world.s3.filesystem()
    secret = f"{world.lookalike[len('s3://') :]}/team/secret.txt"
    fs.pipe(secret, b"not yours")
    with api(world) as client:
        other = world.other[len("s3://") :]
        planted = (
            f"s3://{secret}",
            f"{world.main}/elsewhere/x.npy",
            f"{world.other}/teammates/x",
            f"s3://key:secret@{other}/team/x",
            f"{world.other}/team/x?versionId=1",
            f"{world.other}/team/x\x00.npy",
        )
        for uri in planted:
            answer = client.put(
                f"/api/tasks/{stored['task']}/artifacts",
                json={"task_id": stored["task"], "name": "planted", "type": "file", "uri": uri},
            )
            assert answer.status_code == 422, (uri, answer.text)
            assert b"not yours" not in answer.content
            event = {"task_id": stored["task"], "kind": "image", "title": "x", "payload": {"uri": uri}}
            answer = client.post("/api/metrics", json=[event])
            assert answer.status_code == 422, (uri, answer.text)
        assert "planted" not in {
            a["name"] for a in client.get(f"/api/tasks/{stored['task']}/artifacts").json()
        }


def test_who_may_read_and_write_artifacts_in_the_bucket(world: World, stored: dict[str, Any]) -> None:
    for name, role in (("bob", "user"), ("carol", "readonly")):
        world.server.cli("users", "add", name, "--password", f"{name}-password-123", "--role", role)
    bob = world.server.cli("keys", "create", "--user", "bob", "--name", "t").stdout.strip()
    carol = world.server.cli("keys", "create", "--user", "carol", "--name", "t").stdout.strip()
    content = f"/api/tasks/{stored['task']}/artifacts/array/content"
    with httpx.Client(base_url=world.server.url, timeout=30) as anonymous:
        assert anonymous.get(content).status_code == 401
    for key in (bob, carol):  # every known user reads (docs/security.md: roles)...
        with api(world, key) as client:
            assert client.get(content).status_code == 200
            # ...but writes only their own tasks: nothing is stored for them, anywhere
            for root in ("", f"{world.other}/team/theirs"):
                answer = client.put(content, params={"root": root} if root else {}, content=b"overwrite")
                assert answer.status_code == 403, answer.text
    assert not world.s3.filesystem().exists(f"{world.other[len('s3://') :]}/team/theirs")
    with api(world) as client:  # alice's record is what she stored
        assert client.get(content).content == world.s3.filesystem().cat(stored["records"]["array"]["uri"])


def test_a_server_refuses_credentials_in_its_storage_settings(tmp_path: Path) -> None:
    root = "s3://AKIDEXAMPLE:hunter2-secret@bucket/artifacts"
    done = subprocess.run(
        [sys.executable, "-m", "ductwork", "server", "--port", "0", "--artifacts-uri", root],
        env={**installed_env(), "DUCTWORK_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "credentials, queries and fragments are not accepted" in output, output
    assert "hunter2-secret" not in output
