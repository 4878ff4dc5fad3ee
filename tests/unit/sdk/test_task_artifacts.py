"""upload_artifact and task.artifacts: every kind, background uploads, and bad input."""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ductwork import Task
from ductwork.core.errors import StorageError, ValidationError

SRC = Path(__file__).resolve().parents[3] / "src"


@pytest.fixture
def task(sdk_home: Path) -> Task:
    return Task.init("artifacts", "kinds")


def test_every_kind_comes_back_as_its_type(task: Task, tmp_path: Path) -> None:
    file = tmp_path / "notes.txt"
    file.write_text("hello file")
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.txt").write_text("a")
    frame = pd.DataFrame({"x": [1, 2], "y": ["a", "b"]})
    objects = {
        "array": np.arange(12).reshape(3, 4),
        "frame": frame,
        "dict": {"b": 1, "a": [1, 2]},
        "list": [1, "two", 3.0],
        "text": "plain text",
        "file": str(file),
        "folder": folder,
        "image": Image.new("RGB", (4, 3), "red"),
        "object": {1, 2, 3},
        "custom": threading.Event,
    }
    for name, obj in objects.items():
        assert task.upload_artifact(name, obj, metadata={"kind": name})
    artifacts = task.artifacts
    assert set(artifacts) == set(objects)
    np.testing.assert_array_equal(artifacts["array"].get(), objects["array"])
    pd.testing.assert_frame_equal(artifacts["frame"].get(), frame)
    assert artifacts["dict"].get() == {"a": [1, 2], "b": 1}
    assert artifacts["list"].get() == [1, "two", 3.0]
    assert artifacts["text"].get() == "plain text"
    assert Path(artifacts["file"].get()).read_text() == "hello file"
    assert Path(artifacts["file"].get_local_copy()).name == "notes.txt"
    assert (Path(artifacts["folder"].get_local_copy()) / "sub" / "a.txt").read_text() == "a"
    assert artifacts["image"].get().size == (4, 3)
    assert artifacts["object"].get() == {1, 2, 3}
    assert artifacts["custom"].get() is threading.Event
    for name, artifact in artifacts.items():
        assert artifact.name == name
        assert artifact.metadata == {"kind": name}
        assert len(artifact.hash) == 64
        assert artifact.size > 0
        assert artifact.mode == "output"
        assert artifact.timestamp > 0
        assert artifact.preview
    assert artifacts["array"].type == "numpy" and artifacts["array"].url
    assert artifacts["frame"].type == "pandas"


def test_background_upload_snapshots_mutable_objects(task: Task) -> None:
    values = {"step": 1}
    array = np.zeros(3)
    task.upload_artifact("values", values)
    task.upload_artifact("array", array)
    values["step"] = 2
    array[:] = 7
    assert task.artifacts["values"].get() == {"step": 1}
    np.testing.assert_array_equal(task.artifacts["array"].get(), np.zeros(3))


def test_the_newest_upload_of_a_name_wins(task: Task) -> None:
    for value in range(20):
        task.upload_artifact("counter", value)
    task.upload_artifact("counter", "sync", wait_on_upload=True)
    assert task.artifacts["counter"].get() == "sync"


def test_custom_serialization_and_deserialization(task: Task) -> None:
    task.upload_artifact(
        "custom",
        [3, 4],
        serialization_function=lambda value: ",".join(map(str, value)).encode(),
        extension_name=".csv",
        wait_on_upload=True,
    )
    artifact = task.artifacts["custom"]
    assert artifact.get(deserialization_function=lambda data: data.decode().split(",")) == ["3", "4"]


def test_delete_after_upload_removes_the_local_file(task: Task, tmp_path: Path) -> None:
    file = tmp_path / "temp.bin"
    file.write_bytes(b"\x00" * 100)
    task.upload_artifact("temp", str(file), delete_after_upload=True, wait_on_upload=True)
    assert not file.exists()
    assert Path(task.artifacts["temp"].get_local_copy()).read_bytes() == b"\x00" * 100


def test_pickles_are_refused_when_blocked(task: Task) -> None:
    task.upload_artifact("obj", datetime.date(2020, 1, 2), wait_on_upload=True)
    assert task.artifacts["obj"].type == "pickle"
    with pytest.raises(ValidationError, match="block_unsafe_artifacts"):
        task.artifacts["obj"].get(block_unsafe_artifacts=True)


def test_bad_arguments_name_the_argument(task: Task) -> None:
    with pytest.raises(ValidationError, match="name must be a str"):
        task.upload_artifact(5, "x")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="must not be empty"):
        task.upload_artifact("  ", "x")
    with pytest.raises(ValidationError, match="metadata must be a dict"):
        task.upload_artifact("m", "x", metadata=[1])  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="retries"):
        task.upload_artifact("m", "x", retries=-1)
    with pytest.raises(ValidationError, match="auto_pickle=False"):
        task.upload_artifact("m", object(), auto_pickle=False)
    assert task.artifacts == {}


def test_unserialisable_object_raises_naming_the_artifact(task: Task) -> None:
    with pytest.raises(ValidationError, match=r"'lock'.*cannot serial"):
        task.upload_artifact("lock", threading.Lock(), wait_on_upload=True)
    assert "lock" not in task.artifacts


def test_a_failed_background_upload_is_reported_and_fails_the_task(
    task: Task, capfd: pytest.CaptureFixture[str]
) -> None:
    task.upload_artifact("lock", threading.Lock())
    task.upload_artifact("fine", [1])
    with pytest.raises(StorageError, match="artifact 'lock'"):
        task.close()
    assert "1 artifact(s) could not be stored: artifact 'lock'" in capfd.readouterr().err
    stored = Task.get_task(task.id)
    assert stored.status == "failed"
    assert "artifact 'lock'" in stored.data.status_reason
    assert set(stored.artifacts) == {"fine"}


def test_flush_waits_for_uploads_and_raises_their_errors(task: Task) -> None:
    task.upload_artifact("lock", threading.Lock())
    with pytest.raises(StorageError, match="1 upload"):
        task.flush(wait_for_uploads=True)
    task.flush(wait_for_uploads=True)  # reported once


def test_broken_artifact_files_raise_naming_the_artifact(task: Task) -> None:
    task.upload_artifact("array", np.arange(1000), wait_on_upload=True)
    task.upload_artifact("frame", pd.DataFrame({"a": range(100)}), wait_on_upload=True)
    artifacts = task.artifacts
    truncated, garbled = Path(artifacts["array"].url or ""), Path(artifacts["frame"].url or "")
    for path in (truncated, garbled):
        os.chmod(path, 0o644)
    truncated.write_bytes(truncated.read_bytes()[:100])
    garbled.write_bytes(b"\x07" * artifacts["frame"].size)
    with pytest.raises(StorageError, match=r"'array'.*truncated"):
        task.artifacts["array"].get()
    with pytest.raises(StorageError, match=r"'frame'.*(damaged|cannot be read)"):
        task.artifacts["frame"].get()
    Path(artifacts["array"].url or "").unlink()
    with pytest.raises(Exception, match=r"'array'.*missing"):
        task.artifacts["array"].get()
    assert task.artifacts["array"].get_local_copy() is None
    with pytest.raises(Exception, match="'array'"):
        task.artifacts["array"].get_local_copy(raise_on_error=True)


def _confined(kind: str, home: Path) -> list[str]:
    """A command prefix running a process with the artifact folder read-only or (almost) full."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rm", "true"], check=False).returncode:
        pytest.skip("needs `unshare -rm` (user and mount namespaces) to make a read-only or full filesystem")
    folder = home / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "readonly":
        mount = f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder}"
    else:
        mount = f"mount -t tmpfs -o size=256k tmpfs {folder}"
    return ["unshare", "-rm", "sh", "-c", f'{mount} && exec "$0" "$@"']


def _run_confined(kind: str, home: Path, code: str) -> subprocess.CompletedProcess[str]:
    from ductwork import client

    client.backend()  # the store exists (migrated) before the folder is confined
    # a full disk is waited out for the retry window before the upload fails: keep it short
    env = {**os.environ, "DUCTWORK_HOME": str(home), "PYTHONPATH": str(SRC), "DUCTWORK_RETRY_WINDOW": "1"}
    return subprocess.run(
        [*_confined(kind, home), sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


CONFINED_UPLOAD = """
    import numpy as np
    from ductwork import Task
    from ductwork.core.errors import StorageError
    task = Task.init("confined", "upload")
    try:
        task.upload_artifact("big", np.ones(200_000), wait_on_upload=True)
    except StorageError as exc:
        print("ERROR", exc)
    task.upload_artifact("small", {"still": "works"}, wait_on_upload=True)
    print("ARTIFACTS", sorted(task.artifacts))
    task.upload_artifact("background", np.ones(200_000))
    try:
        task.close()
    except StorageError as exc:
        print("CLOSE", exc)
    print("STATUS", Task.get_task(task.id).status)
"""


@pytest.mark.parametrize(
    ("kind", "reason"), [("readonly", "Read-only file system"), ("full", "No space left")]
)
def test_read_only_or_full_artifact_storage_is_a_clear_error(sdk_home: Path, kind: str, reason: str) -> None:
    done = _run_confined(kind, sdk_home, CONFINED_UPLOAD)
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines() if " " in line)
    assert "'big'" in lines["ERROR"] and reason.lower() in lines["ERROR"].lower(), lines["ERROR"]
    assert lines["ARTIFACTS"] == "['small']"
    assert "'background'" in lines["CLOSE"] and reason.lower() in lines["CLOSE"].lower()
    assert lines["STATUS"] == "failed"
