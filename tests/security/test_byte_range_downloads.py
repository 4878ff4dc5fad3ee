"""Downloads honour `Range`: a `<video>` seeks, a big artifact resumes, hostile ranges are refused.

Every route that serves stored bytes (the API's artifact and model content, the pages' artifact
download and image events) answers one range with 206 and `Content-Range`, a range beyond the
file with 416 and `Content-Range: bytes */size`, and a malformed `Range` with a 400 naming it,
against a server process. What guards those routes still does with a `Range` header: no caller,
no bytes; a location outside the server's storage is never read.
"""

from __future__ import annotations

import hashlib
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx
from attack import ServerProcess

# More than one read chunk (1 MiB), so a range crosses chunk borders; no two bytes 256 apart
# are equal at the same offset within a period of 251 (a prime), so a wrong offset shows.
DATA = bytes(i % 251 for i in range(3 * (1 << 20) + 17))
SIZE = len(DATA)
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(200)) * 50


def runs_on_postgresql(test: str, params: dict[str, Any]) -> bool:
    return False  # ranges are read from files, never from the database


def stored(api: httpx.Client, task_id: str, name: str, data: bytes, ext: str) -> dict[str, Any]:
    answer = api.put(f"/api/tasks/{task_id}/artifacts/{name}/content", params={"ext": ext}, content=data)
    assert answer.status_code == 200, answer.text
    blob: dict[str, Any] = answer.json()
    return blob


def record(api: httpx.Client, task_id: str, name: str, blob: dict[str, Any]) -> None:
    body = {"task_id": task_id, "name": name, "type": "file", **blob}
    assert api.put(f"/api/tasks/{task_id}/artifacts", json=body).status_code == 204


def assert_part(answer: httpx.Response, first: int, last: int, data: bytes = DATA) -> None:
    where = f"{answer.request.url} {answer.request.headers.get('range')}"
    assert answer.status_code == 206, (where, answer.status_code, answer.text[:300])
    assert answer.headers["content-range"] == f"bytes {first}-{last}/{len(data)}", where
    assert answer.headers["content-length"] == str(last - first + 1), where
    assert answer.headers["accept-ranges"] == "bytes", where
    assert answer.content == data[first : last + 1], where
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in answer.headers["content-security-policy"]


def test_every_download_route_serves_one_range(server: ServerProcess, task_of: Any) -> None:
    task = task_of(server.alice)
    with server.client(server.alice.key) as api:
        blob = stored(api, task["id"], "big", DATA, ".bin")
        record(api, task["id"], "big", blob)
        model = api.post("/api/models", json={"name": "m", "task_id": task["id"], **blob})
        assert model.status_code == 200, model.text
        paths = [
            f"/api/tasks/{task['id']}/artifacts/big/content",
            f"/api/models/{model.json()['id']}/content",
        ]
        whole = api.get(paths[0])
        assert whole.status_code == 200 and whole.content == DATA
        assert whole.headers["accept-ranges"] == "bytes"
        etag = whole.headers["etag"]
        assert etag == f'"{hashlib.sha256(DATA).hexdigest()}"'
        browser = server.login("bob", server.bob.password)  # anyone who may read the task
        for client, path in [(api, p) for p in paths] + [(browser, f"/tasks/{task['id']}/artifacts/big")]:
            cases = {
                "bytes=0-0": (0, 0),
                "bytes=1000-1048600": (1000, 1048600),  # across a chunk border
                f"bytes={SIZE - 10}-": (SIZE - 10, SIZE - 1),
                "bytes=-17": (SIZE - 17, SIZE - 1),
                "bytes=5-" + "9" * 4000: (5, SIZE - 1),  # a huge last position: to the end
                "bytes=-" + "9" * 40: (0, SIZE - 1),
            }
            for header, (first, last) in cases.items():
                assert_part(client.get(path, headers={"Range": header}), first, last)
            # a download resumes where it stopped, if the file is still the one it started
            resumed = client.get(path, headers={"Range": "bytes=2000000-", "If-Range": etag})
            assert_part(resumed, 2000000, SIZE - 1)
            changed = client.get(path, headers={"Range": "bytes=2000000-", "If-Range": '"' + "0" * 64 + '"'})
            assert changed.status_code == 200 and changed.content == DATA
            # several ranges: the whole file (no multipart answer)
            several = client.get(path, headers={"Range": "bytes=0-1,5-6"})
            assert several.status_code == 200 and several.content == DATA
            many = client.get(path, headers={"Range": "bytes=" + ",".join(["0-0"] * 2000)})
            assert many.status_code == 200 and many.content == DATA


def test_a_range_outside_the_file_is_416_and_a_malformed_one_400(server: ServerProcess, task_of: Any) -> None:
    task = task_of(server.alice)
    path = f"/api/tasks/{task['id']}/artifacts/small/content"
    with server.client(server.alice.key) as api:
        record(api, task["id"], "small", stored(api, task["id"], "small", DATA[:100], ".bin"))
        for header in ("bytes=100-", "bytes=100-200", "bytes=-0", "bytes=" + "9" * 4000 + "-"):
            answer = api.get(path, headers={"Range": header})
            assert answer.status_code == 416, (header, answer.text)
            assert answer.headers["content-range"] == "bytes */100"
            assert "outside the file of 100 bytes" in answer.json()["message"]
        malformed = {
            "bytes=5-2": "ends before it starts",
            "bytes=-5-10": "is not 'first-last'",
            "bytes=-1--5": "is not 'first-last'",
            "bytes=x-y": "is not 'first-last'",
            "bytes=0-1,2-x": "'2-x'",
            "bytes=": "names no byte range",
            "garbage": "is not '<unit>=<ranges>'",
            "bytes=0-" + "x" * 6000: "is not 'first-last'",
        }
        for header, says in malformed.items():
            answer = api.get(path, headers={"Range": header})
            assert answer.status_code == 400, (header, answer.text)
            message = answer.json()["message"]
            assert "Range header" in message and says in message, message
            assert len(message) < 400
            assert DATA[:100] not in answer.content
        # another unit is ignored, as RFC 9110 requires: the whole file
        other = api.get(path, headers={"Range": "items=0-5"})
        assert other.status_code == 200 and other.content == DATA[:100]


def test_nul_and_control_bytes_in_range_are_refused(server: ServerProcess, task_of: Any) -> None:
    """httpx will not send a NUL in a header; a raw socket does. Either the HTTP layer or our
    parser refuses it, never with the file's bytes."""
    task = task_of(server.alice)
    path = f"/api/tasks/{task['id']}/artifacts/nul/content"
    with server.client(server.alice.key) as api:
        record(api, task["id"], "nul", stored(api, task["id"], "nul", b"SECRET-BYTES" * 10, ".bin"))
    for value in (b"bytes=0-1\x00", b"bytes=\x000-1", b"\x00", b"bytes=0-1\x01", b"bytes=0-\xff"):
        status, body = raw_get(server, path, server.alice.key, value)
        assert status == 400, (value, status, body[:200])
        assert b"SECRET-BYTES" not in body


def raw_get(server: ServerProcess, path: str, key: str, range_value: bytes) -> tuple[int, bytes]:
    where = urlsplit(server.url)
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {where.hostname}\r\nAuthorization: Bearer {key}\r\n".encode()
        + b"Range: "
        + range_value
        + b"\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection((where.hostname, where.port), timeout=30) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    return status, answer


def test_a_video_sample_seeks_and_the_guards_hold(server: ServerProcess, task_of: Any) -> None:
    task = task_of(server.alice)
    with server.client(server.alice.key) as api:
        blob = stored(api, task["id"], "voice", WAV, ".wav")
        sample = {"task_id": task["id"], "kind": "image", "title": "media", "series": "voice"}
        sample["payload"] = {"artifact": blob, "content_type": "audio/wav"}
        link = {**sample, "series": "link", "payload": {"url": "https://example.com/a.wav"}}
        assert api.post("/api/metrics", json=[sample, link]).status_code == 204
    browser = server.login("bob", server.bob.password)
    part = browser.get(f"/tasks/{task['id']}/images/0", headers={"Range": "bytes=100-199"})
    assert_part(part, 100, 199, WAV)
    # typed by the file's first bytes, not by the range's
    assert part.headers["content-type"] == "audio/wav"
    assert part.headers["content-disposition"].startswith("inline;")
    # a link is never fetched by the server, whatever range is asked
    assert browser.get(f"/tasks/{task['id']}/images/1", headers={"Range": "bytes=0-10"}).status_code == 404
    with server.client() as anonymous:
        for path in (f"/tasks/{task['id']}/images/0", f"/api/tasks/{task['id']}/artifacts/voice/content"):
            answer = anonymous.get(path, headers={"Range": "bytes=0-10"})
            assert answer.status_code == 401 and WAV[:11] not in answer.content
