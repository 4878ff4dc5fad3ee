"""The URLs a user is given for stored bytes.

ClearML: `Task.artifacts[name].url` and `Model.url` are its files server's URLs, which any
machine fetches (`StorageManager.get_local_copy(url)`). Against a server, ours are the server's
download URLs (they need an API key); embedded, the local path; in object storage, the object's URI.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ductwork import OutputModel, StorageManager, Task
from ductwork.client.http import HttpBackend
from ductwork.core.errors import NotFound, ValidationError
from ductwork.core.records import ArtifactRecord, ModelRecord
from ductwork.sdk import urls

SERVED = (".csv", "x,y\n1,2\n")


def _links(task: Task) -> list[tuple[str, str]]:
    return [(link.role, link.name) for link in task._backend.get_task_models(task.id)]


def test_without_a_server_an_artifact_url_is_its_local_path(sdk_home: Path, tmp_path: Path) -> None:
    source = tmp_path / "points.csv"
    source.write_text(SERVED[1])
    task = Task.init("urls", "embedded")
    task.upload_artifact("points", source, wait_on_upload=True)

    url = task.artifacts["points"].url
    assert url == task.artifacts["points"].record.uri and Path(url or "").is_file()
    assert Path(StorageManager.get_local_copy(url or "")).read_text() == SERVED[1]


def test_a_servers_artifact_url_is_its_download_url_and_reads_back(server: Any, tmp_path: Path) -> None:
    source = tmp_path / "points.csv"
    source.write_text(SERVED[1])
    task = Task.init("urls", "served")
    task.upload_artifact("points", source, wait_on_upload=True)
    task.upload_artifact("small", {"inline": True}, wait_on_upload=True)
    backend = task._backend
    assert isinstance(backend, HttpBackend)

    url = task.artifacts["points"].url
    assert url == f"{backend.url}/api/tasks/{task.id}/artifacts/points/content"
    assert Path(StorageManager.get_local_copy(url)).read_text() == SERVED[1]
    small = task.artifacts["small"].url  # inline in the record: served all the same
    assert small == f"{backend.url}/api/tasks/{task.id}/artifacts/small/content"
    assert b"inline" in b"".join(backend.download_artifact_content(task.id, "small"))


def test_a_machine_that_cannot_reach_the_servers_storage_downloads_the_url(
    server: Any, tmp_path: Path, sdk_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(HttpBackend, "sends_artifacts_through_server", lambda self, output_uri=None: True)
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "a.txt").write_text("inside")
    task = Task.init("urls", "elsewhere")
    task.upload_artifact("folder", folder, wait_on_upload=True)
    task.upload_artifact("name/with spaces?", np.arange(4), wait_on_upload=True)
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"weights")
    model = OutputModel(task=task, name="net")
    url = model.update_weights(weights)

    assert url == model.url == f"{task._backend.url}/api/models/{model.id}/content"
    assert Path(StorageManager.get_local_copy(url)).read_bytes() == b"weights"
    extracted = Path(StorageManager.get_local_copy(task.artifacts["folder"].url or ""))
    assert (extracted / "a.txt").read_text() == "inside"
    odd = task.artifacts["name/with spaces?"].url or ""
    assert "name%2Fwith%20spaces%3F" in odd
    assert np.load(StorageManager.get_local_copy(odd)).tolist() == [0, 1, 2, 3]
    # what came back was downloaded into this machine's cache, hash-checked
    assert str(sdk_home / "cache") in StorageManager.get_local_copy(odd)


def test_bytes_in_object_storage_keep_the_objects_uri(server: Any) -> None:
    task = Task.init("urls", "s3")
    record = ArtifactRecord(task.id, "remote", type="file", uri="s3://bucket/points.csv", hash="h", size=1)
    model = ModelRecord(name="m", uri="s3://bucket/model.bin")
    assert urls.artifact_url(task._backend, record) == "s3://bucket/points.csv"
    assert urls.model_url(task._backend, model) == "s3://bucket/model.bin"
    assert urls.model_url(task._backend, ModelRecord(name="no weights yet")) == ""
    assert urls.artifact_url(task._backend, ArtifactRecord(task.id, "nothing stored")) is None


# Parts no artifact name or id can be once unquoted: NUL, blank, too long, not UTF-8; and for
# ids, climbs too (an artifact *name* may be "..": it is looked up as a name, never a path).
HOSTILE_NAMES = ["%00", "a%00b", "%20", "n" * 256, "%ff%fe"]
HOSTILE_IDS = ["..", "%2e%2e%2f%2e%2e", "f" * 33, *HOSTILE_NAMES]


@pytest.mark.parametrize(
    "tail",
    [
        *(f"/api/tasks/{{task}}/artifacts/{part}/content" for part in HOSTILE_NAMES),
        *(f"/api/tasks/{part}/artifacts/points/content" for part in HOSTILE_IDS),
        *(f"/api/models/{part}/content" for part in HOSTILE_IDS),
        "/api/tasks/../../../etc/passwd/content",
        "/api/tasks/{task}/artifacts/points/content?download=1",
        "/api/system/info",
    ],
)
def test_a_server_url_naming_no_artifact_or_model_is_refused_before_any_request(
    server: Any, tail: str
) -> None:
    task = Task.init("urls", "hostile")
    backend = task._backend
    assert isinstance(backend, HttpBackend)
    with pytest.raises(ValidationError, match="not"):
        StorageManager.get_local_copy(backend.url + tail.format(task=task.id))


def test_a_server_url_of_a_missing_artifact_is_not_found(server: Any) -> None:
    task = Task.init("urls", "missing")
    backend = task._backend
    assert isinstance(backend, HttpBackend)
    with pytest.raises(NotFound, match="no artifact 'nothing'"):
        StorageManager.get_local_copy(backend.artifact_url(task.id, "nothing"))
    with pytest.raises(NotFound, match=r"no artifact '\.\./\.\.'"):  # a name, never a path
        StorageManager.get_local_copy(backend.url + f"/api/tasks/{task.id}/artifacts/%2e%2e%2f%2e%2e/content")
    with pytest.raises(NotFound, match="9" * 32):
        StorageManager.get_local_copy(backend.model_url("9" * 32))
    # another server's URL (another port) is not ours: fetched as any URL, without our key
    assert backend.content_of(backend.url.replace("127.0.0.1", "localhost") + "/api/models/x/content") is None


def test_an_artifact_url_read_in_place_needs_the_record_not_the_path(server: Any, tmp_path: Path) -> None:
    # This machine shares the server's storage: the URL reads the blob in place. The blob gone,
    # the URL says so (as a record would), rather than fetching anything else.
    task = Task.init("urls", "in place")
    task.upload_artifact("array", np.arange(3), wait_on_upload=True)
    record: ArtifactRecord = task.artifacts["array"].record
    assert StorageManager.get_local_copy(task.artifacts["array"].url or "") == record.uri
    shutil.move(record.uri, tmp_path / "moved.npy")
    with pytest.raises(Exception, match=r"array|No such file|does not exist"):
        StorageManager.get_local_copy(task.artifacts["array"].url or "")


def test_a_local_mode_step_gets_and_reads_its_controllers_server_urls(
    server: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ductwork import client
    from ductwork.client.pipe import PipeBackend, PipeServer

    source = tmp_path / "points.csv"
    source.write_text(SERVED[1])
    task = Task.init("urls", "controller")
    task.upload_artifact("points", source, wait_on_upload=True)
    record = task.artifacts["points"].record
    controller = PipeServer(task._backend)  # what a controller serves its local-mode steps
    step = PipeBackend(controller.address)
    try:
        url = urls.artifact_url(step, record)
        assert url == task.artifacts["points"].url
        monkeypatch.setenv("DUCTWORK_PIPE", controller.address)
        client.use(step)
        assert Path(StorageManager.get_local_copy(url or "")).read_text() == SERVED[1]
    finally:
        client.use(None)
        controller.close()
