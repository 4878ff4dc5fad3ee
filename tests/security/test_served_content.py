"""Finding 3: stored bytes the server hands out can never run in a browser.

An ordinary user uploads HTML and SVG artifacts with a script and records them with the
content type and file name that would make a browser run them (`text/html`, `image/svg+xml`,
`page.html`), and asks for them inline. The server answers every such request with a
download of a type it chose itself, `nosniff` and a sandboxing CSP; only a real raster image
is ever inline.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import httpx
from attack import ServerProcess

HTML = b"<!doctype html><title>x</title><script>document.title='pwned'</script><h1>hi</h1>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'
INERT = {"application/octet-stream", "application/json", "text/plain; charset=utf-8"}


def png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0\0"))
        + chunk(b"IEND", b"")
    )


def upload(api: httpx.Client, task_id: str, name: str, data: bytes, ext: str, **record: Any) -> None:
    stored = api.put(f"/api/tasks/{task_id}/artifacts/{name}/content", params={"ext": ext}, content=data)
    assert stored.status_code == 200, stored.text
    body = {"task_id": task_id, "name": name, "type": "file", **stored.json(), **record}
    assert api.put(f"/api/tasks/{task_id}/artifacts", json=body).status_code == 204


def assert_download(answer: httpx.Response, data: bytes) -> None:
    where = str(answer.request.url)
    assert answer.status_code == 200, where
    assert answer.content == data, where
    assert answer.headers["content-type"] in INERT, (where, answer.headers["content-type"])
    assert answer.headers["content-disposition"].startswith("attachment;"), where
    assert answer.headers["x-content-type-options"] == "nosniff", where
    policy = answer.headers["content-security-policy"]
    assert "sandbox" in policy and "default-src 'none'" in policy, where


def test_html_and_svg_artifacts_are_inert_downloads_even_inline(server: ServerProcess, task_of: Any) -> None:
    task = task_of(server.alice)
    with server.client(server.alice.key) as api:
        upload(api, task["id"], "page", HTML, ".html", content_type="text/html", file_name="page.html")
        upload(api, task["id"], "drawing", SVG, ".svg", content_type="image/svg+xml", file_name="d.svg")
        # a name and type that claim an image, with HTML inside
        upload(api, task["id"], "fake", HTML, ".png", content_type="image/png", file_name="fake.png")
        upload(api, task["id"], "xhtml", HTML, ".xhtml", content_type="application/xhtml+xml")
        upload(api, task["id"], "picture", SVG, ".svg", type="image", content_type="image/svg+xml")
        cases = {"page": HTML, "drawing": SVG, "fake": HTML, "xhtml": HTML, "picture": SVG}
        browser = server.login("admin", server.admin.password)
        for name, data in cases.items():
            assert_download(api.get(f"/api/tasks/{task['id']}/artifacts/{name}/content"), data)
            for query in ("", "?inline=true", "?inline=1"):
                assert_download(browser.get(f"/tasks/{task['id']}/artifacts/{name}{query}"), data)
            preview = browser.get(f"/tasks/{task['id']}/artifact-preview/{name}")
            assert b"<script" not in preview.content and b"<svg" not in preview.content


def test_only_a_real_raster_image_is_inline_and_typed_by_its_bytes(
    server: ServerProcess, task_of: Any
) -> None:
    task = task_of(server.alice)
    picture = png()
    with server.client(server.alice.key) as api:
        # the client claims HTML: the server looks at the bytes instead
        upload(api, task["id"], "pic", picture, ".png", type="image", content_type="text/html")
        browser = server.login("admin", server.admin.password)
        inline = browser.get(f"/tasks/{task['id']}/artifacts/pic?inline=true")
        assert inline.headers["content-type"] == "image/png"
        assert inline.headers["content-disposition"].startswith("inline;")
        assert inline.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in inline.headers["content-security-policy"]
        assert inline.content == picture
        download = browser.get(f"/tasks/{task['id']}/artifacts/pic")
        assert download.headers["content-disposition"].startswith("attachment;")


def test_an_image_event_is_served_only_as_a_raster_image(server: ServerProcess, task_of: Any) -> None:
    task = task_of(server.alice)
    with server.client(server.alice.key) as api:
        svg = api.put(
            f"/api/tasks/{task['id']}/artifacts/ev/content", params={"ext": ".svg"}, content=SVG
        ).json()
        pic = api.put(
            f"/api/tasks/{task['id']}/artifacts/ev2/content", params={"ext": ".png"}, content=png()
        ).json()
        events = [
            {
                "task_id": task["id"],
                "kind": "image",
                "title": "a",
                "iteration": 0,
                "payload": {"artifact": svg},
            },
            {
                "task_id": task["id"],
                "kind": "image",
                "title": "b",
                "iteration": 1,
                "payload": {"artifact": pic},
            },
        ]
        assert api.post("/api/metrics", json=events).status_code == 204
        svg_link = {
            "task_id": task["id"],
            "kind": "image",
            "title": "c",
            "payload": {"url": "data:image/svg+xml,<svg/>"},
        }
        assert api.post("/api/metrics", json=[svg_link]).status_code == 422
    browser = server.login("admin", server.admin.password)
    answers = [browser.get(f"/tasks/{task['id']}/images/{index}") for index in (0, 1)]
    by_type = sorted(answer.headers["content-type"] for answer in answers)
    assert by_type == ["application/octet-stream", "image/png"]
    for answer in answers:
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in answer.headers["content-security-policy"]
        if answer.headers["content-type"] != "image/png":
            assert answer.headers["content-disposition"].startswith("attachment;")


WAV = (
    b"RIFF\x24\x00\x00\x00WAVEfmt "
    + b"\x10\x00\x00\x00\x01\x00\x01\x00@\x1f\x00\x00@\x1f\x00\x00\x01\x00\x08\x00"
)


def test_a_media_sample_plays_only_when_its_bytes_are_audio_and_html_never_renders(
    server: ServerProcess, task_of: Any
) -> None:
    """`Logger.report_media` samples are image events naming stored bytes with the reporter's
    content type. The reporter claims a page is audio, and names HTML `text/html`: the server
    types what it sends by the bytes, so the page is an inert download either way."""
    task = task_of(server.alice)
    samples = {
        "page": (HTML, ".html", "text/html"),
        "fake": (HTML, ".wav", "audio/wav"),
        "voice": (WAV, ".wav", "audio/wav"),
    }
    with server.client(server.alice.key) as api:
        events = []
        for series, (data, ext, kind) in samples.items():
            stored = api.put(
                f"/api/tasks/{task['id']}/artifacts/m-{series}/content", params={"ext": ext}, content=data
            )
            assert stored.status_code == 200, stored.text
            payload = {"artifact": stored.json(), "content_type": kind, "source": "report_media"}
            events.append(
                {
                    "task_id": task["id"],
                    "kind": "image",
                    "title": "media",
                    "series": series,
                    "payload": payload,
                }
            )
        assert api.post("/api/metrics", json=events).status_code == 204
    browser = server.login("bob", server.bob.password)  # anyone who may read the task sees its samples
    items = {item["series"]: item for item in browser.get(f"/tasks/{task['id']}/plots.json").json()}
    assert {series: item["media"] for series, item in items.items()} == {
        "page": "file",
        "fake": "audio",
        "voice": "audio",
    }
    for series in ("page", "fake"):
        assert_download(browser.get(items[series]["payload"]), HTML)
    voice = browser.get(items["voice"]["payload"])
    assert voice.headers["content-type"] == "audio/wav" and voice.content == WAV
    assert voice.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in voice.headers["content-security-policy"]


def test_media_samples_need_a_caller_and_only_the_owner_adds_them(
    server: ServerProcess, task_of: Any
) -> None:
    task = task_of(server.alice)
    with server.client(server.alice.key) as api:
        stored = api.put(
            f"/api/tasks/{task['id']}/artifacts/m/content", params={"ext": ".wav"}, content=WAV
        ).json()
        sample = {"task_id": task["id"], "kind": "image", "title": "media", "series": "voice"}
        sample["payload"] = {"artifact": stored, "content_type": "audio/wav"}
        assert api.post("/api/metrics", json=[sample]).status_code == 204
    with server.client() as anonymous:
        for path in (f"/tasks/{task['id']}/images/0", f"/tasks/{task['id']}/plots.json"):
            answer = anonymous.get(path)
            assert answer.status_code == 401 and WAV not in answer.content
    with server.client(server.bob.key) as bob:
        # bob's key cannot add a sample to alice's task, nor store bytes on it
        refused = bob.post("/api/metrics", json=[{**sample, "series": "bob's"}])
        assert refused.status_code == 403 and "only its owner" in refused.json()["message"]
        upload = bob.put(f"/api/tasks/{task['id']}/artifacts/b/content", params={"ext": ".wav"}, content=WAV)
        assert upload.status_code == 403
    with server.client(server.alice.key) as api:
        # a sample naming bytes outside the server's storage is refused when recorded
        elsewhere = {
            **sample,
            "payload": {"artifact": {**stored, "uri": "/etc/passwd"}, "content_type": "audio/wav"},
        }
        assert api.post("/api/metrics", json=[elsewhere]).status_code == 422
