"""`Logger.report_media`: debug samples of any media, stored as `report_image` stores pictures,
and shown by a server's plots panel in the element their type asks for."""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path
from typing import Any

import httpx
import pytest

from ductwork import Task
from ductwork.artifacts import store_for
from ductwork.core.errors import ValidationError
from ductwork.core.queries import EventQuery
from ductwork.core.records import ArtifactRecord, from_dict

HTML = b"<!doctype html><script>document.title='pwned'</script>"


def wav() -> bytes:
    """A valid WAV file of 4 silent 8-bit mono samples."""
    data = b"\x80" * 4
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 8000, 1, 8)
    body = (
        b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    )
    return b"RIFF" + struct.pack("<I", len(body)) + body


def mp4() -> bytes:
    return struct.pack(">I", 24) + b"ftypisom" + b"\0\0\x02\0" + b"isomiso2" + b"\0" * 16


def samples(task: Task) -> dict[str, dict[str, Any]]:
    task.get_logger().flush(wait=True)
    found = task._backend.get_events(EventQuery(task_id=task.id, kind="image"))
    return {event.series: event.payload for event in found}


def report_all(task: Task, folder: Path) -> None:
    logger = task.get_logger()
    (folder / "voice.wav").write_bytes(wav())
    (folder / "page.html").write_bytes(HTML)
    logger.report_media("samples", "audio", iteration=1, local_path=str(folder / "voice.wav"))
    logger.report_media("samples", "video", stream=mp4(), file_extension="mp4")
    logger.report_media(
        "samples", "page", local_path=str(folder / "page.html"), delete_after_upload=True, max_history=3
    )
    logger.report_media("samples", "clip", stream=io.BytesIO(b"raw"), file_extension=".bin")
    logger.report_media("samples", "remote", url="https://example.com/media/song.mp3?v=1")


def test_media_samples_are_stored_with_the_type_of_their_extension(sdk_home: Path, tmp_path: Path) -> None:
    task = Task.init("media", "samples")
    report_all(task, tmp_path)
    found = samples(task)
    kinds = {series: payload["content_type"] for series, payload in found.items()}
    assert kinds == {
        "audio": "audio/wav",
        "video": "video/mp4",
        "page": "text/html",
        "clip": "application/octet-stream",
        "remote": "audio/mpeg",
    }
    assert found["remote"]["url"] == "https://example.com/media/song.mp3?v=1"
    assert not (tmp_path / "page.html").exists()  # delete_after_upload
    for series, data in (("audio", wav()), ("video", mp4()), ("page", HTML), ("clip", b"raw")):
        record = from_dict(ArtifactRecord, found[series]["artifact"])
        assert Path(store_for(None).local_copy(record)).read_bytes() == data
        assert found[series]["source"] == "report_media"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, r"report_media\('t', 's'\): give exactly one of local_path, stream, url \(got none\)"),
        ({"stream": b"x", "url": "https://x/a.wav"}, r"exactly one .*\['stream', 'url'\]"),
        ({"stream": b"x"}, "a stream needs file_extension"),
        (
            {"stream": b"x", "file_extension": "a/b"},
            "file_extension must be an extension such as 'wav', got 'a/b'",
        ),
        ({"stream": io.StringIO("text"), "file_extension": "txt"}, "binary mode, it gave str"),
        ({"stream": 5, "file_extension": "wav"}, "stream must be bytes or a binary file object, got int"),
        ({"local_path": "/no/such/file.wav"}, "cannot read '/no/such/file.wav'"),
        ({"url": "https://x/a.wav", "max_history": 0}, "max_history must be an int >= 1, got 0"),
        ({"url": 7}, r"url must be a str, got int \(7\)"),
    ],
)
def test_bad_media_input_is_refused_by_name(sdk_home: Path, kwargs: dict[str, Any], message: str) -> None:
    task = Task.init("media", "bad")
    with pytest.raises(ValidationError, match=message):
        task.get_logger().report_media("t", "s", **kwargs)
    assert samples(task) == {}


def test_a_server_plays_audio_and_video_and_hands_html_out_as_an_inert_download(
    server: Any, tmp_path: Path
) -> None:
    task = Task.init("media", "served")
    report_all(task, tmp_path)
    task.close()
    web = httpx.Client(
        base_url=os.environ["DUCTWORK_API_URL"],
        headers={"Authorization": f"Bearer {os.environ['DUCTWORK_API_KEY']}"},
    )
    items = {item["series"]: item for item in web.get(f"/tasks/{task.id}/plots.json").json()}
    media = {series: item["media"] for series, item in items.items()}
    assert media == {"audio": "audio", "video": "video", "page": "file", "clip": "file", "remote": "audio"}
    assert items["remote"]["payload"] == "https://example.com/media/song.mp3?v=1"
    served = {series: web.get(items[series]["payload"]) for series in ("audio", "video", "page", "clip")}
    assert served["audio"].content == wav() and served["audio"].headers["content-type"] == "audio/wav"
    assert served["audio"].headers["content-disposition"].startswith("inline;")
    assert served["video"].headers["content-type"] == "video/mp4"
    for series in ("page", "clip"):
        answer = served[series]
        assert answer.headers["content-type"] == "application/octet-stream"
        assert answer.headers["content-disposition"].startswith("attachment;")
        assert "sandbox" in answer.headers["content-security-policy"]
    assert served["page"].content == HTML
