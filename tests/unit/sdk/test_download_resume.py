"""A download from the server whose body breaks off goes on from the byte where it broke
(`Range` + `If-Range`), and only when the server still holds the very same bytes: never a file
stitched from two versions, never bytes without a validator, never a loop that makes no
progress. The server here is a stand-in that answers as the real one does (ETag, 206,
Content-Range) and breaks its connections where a test says."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ductwork.client.http import HttpBackend
from ductwork.core.errors import StorageError

CONTENT = bytes(range(256)) * 4096  # 1 MiB


@dataclass
class Files:
    """What the stand-in serves: `CONTENT` under `etag`, each answer broken off after the
    next of `breaks` bytes of its body (none left: whole)."""

    etag: str | None = '"sha256-abc"'
    breaks: list[int] = field(default_factory=list)
    asked: list[str | None] = field(default_factory=list)  # each request's Range header
    shift: int = 0  # a resumed answer starts this many bytes past the one asked for


@pytest.fixture
def files() -> Iterator[tuple[Files, str]]:
    served = Files()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            asked = self.headers.get("Range")
            served.asked.append(asked)
            start = 0
            if asked and served.etag and self.headers.get("If-Range") == served.etag:
                start = int(asked.removeprefix("bytes=").partition("-")[0]) + served.shift
            body = CONTENT[start:]
            self.send_response(206 if start else 200)
            if served.etag:
                self.send_header("ETag", served.etag)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(CONTENT) - 1}/{len(CONTENT)}")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if served.breaks:
                self.wfile.write(body[: served.breaks.pop(0)])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)  # the body breaks off
                self.close_connection = True
                return
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            pass  # a client that hung up on a body the test broke off

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _download(url: str) -> bytes:
    return b"".join(HttpBackend(url, "dkx.y").download_artifact_content("t1", "weights"))


def test_a_broken_download_goes_on_where_it_broke(files: tuple[Files, str]) -> None:
    served, url = files
    served.breaks = [300_000, 200_000]
    assert _download(url) == CONTENT
    assert served.asked == [None, "bytes=300000-", "bytes=500000-"]


def test_a_file_that_changed_meanwhile_is_not_stitched(files: tuple[Files, str]) -> None:
    served, url = files
    served.breaks = [300_000]
    got = bytearray()
    with pytest.raises(StorageError, match="broke off after 300000 bytes and cannot go on: it changed"):
        for chunk in HttpBackend(url, "dkx.y").download_artifact_content("t1", "weights"):
            got += chunk
            served.etag = '"sha256-other"'  # replaced while the first answer was on its way
    assert bytes(got) == CONTENT[:300_000]  # what came is the old file's, and no more


def test_an_answer_from_another_byte_is_refused(files: tuple[Files, str]) -> None:
    served, url = files
    served.breaks, served.shift = [300_000], 1000
    with pytest.raises(StorageError, match="broke off after 300000 bytes and cannot go on: HTTP 206"):
        _download(url)
    assert served.asked == [None, "bytes=300000-"]


def test_bytes_without_an_etag_are_not_resumed(files: tuple[Files, str]) -> None:
    served, url = files
    served.etag, served.breaks = None, [300_000]
    with pytest.raises(StorageError, match="cannot reach ductwork server"):
        _download(url)
    assert served.asked == [None]


def test_a_download_that_makes_no_progress_gives_up(
    files: tuple[Files, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DUCTWORK_RETRY_WINDOW", "0.3")
    served, url = files
    served.breaks = [300_000, 100_000] + [0] * 1000  # then every answer breaks before its body
    with pytest.raises(StorageError, match=r"retried for 0\.3 s"):
        _download(url)
    assert served.asked[:3] == [None, "bytes=300000-", "bytes=400000-"]
    assert set(served.asked[3:]) == {"bytes=400000-"}
