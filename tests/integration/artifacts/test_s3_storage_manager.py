"""StorageManager against an S3-compatible server (moto on loopback)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from ductwork.core.errors import NotFound
from ductwork.sdk.storage import StorageManager


def test_upload_get_local_copy_and_list(bucket: str, tmp_path: Path) -> None:
    local = tmp_path / "weights.bin"
    local.write_bytes(b"\x01\x02\x03")
    url = f"{bucket}/models/weights.bin"
    assert StorageManager.upload_file(str(local), url) == url
    assert StorageManager.exists_file(url)
    assert not StorageManager.exists_file(f"{bucket}/models/other.bin")
    assert StorageManager.get_file_size_bytes(url) == 3

    copy = StorageManager.get_local_copy(url)
    assert Path(copy).read_bytes() == b"\x01\x02\x03" and Path(copy).name == "weights.bin"
    assert StorageManager.get_local_copy(url) == copy  # cached
    named = StorageManager.get_local_copy(url, cache_context="models", name="w.bin")
    assert Path(named).name == "w.bin" and "models" in named

    # a changed remote file is fetched again only when asked
    local.write_bytes(b"new")
    StorageManager.upload_file(str(local), url)
    assert Path(StorageManager.get_local_copy(url)).read_bytes() == b"\x01\x02\x03"
    assert Path(StorageManager.get_local_copy(url, force_download=True)).read_bytes() == b"new"

    assert StorageManager.list(f"{bucket}/models") == ["weights.bin"]
    assert StorageManager.list(f"{bucket}/models", return_full_path=True) == [url]


def test_zip_on_s3_is_extracted(bucket: str, tmp_path: Path) -> None:
    archive = tmp_path / "data.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("rows/1.txt", "one")
    StorageManager.upload_file(str(archive), f"{bucket}/data.zip")
    folder = StorageManager.get_local_copy(f"{bucket}/data.zip")
    assert Path(folder, "rows", "1.txt").read_text() == "one"
    assert Path(StorageManager.get_local_copy(f"{bucket}/data.zip", extract_archive=False)).is_file()


def test_folders_round_trip(bucket: str, tmp_path: Path) -> None:
    local = tmp_path / "local"
    (local / "deep" / "er").mkdir(parents=True)
    (local / "a.txt").write_text("a")
    (local / "deep" / "er" / "b.txt").write_text("b")
    uploaded = StorageManager.upload_folder(str(local), f"{bucket}/tree")
    assert sorted(uploaded) == [f"{bucket}/tree/a.txt", f"{bucket}/tree/deep/er/b.txt"]
    listed = StorageManager.list(f"{bucket}/tree", with_metadata=True)
    assert [entry["name"] for entry in listed] == ["a.txt", "deep/er/b.txt"]  # type: ignore[index]
    assert listed[0]["size"] == 1  # type: ignore[index]

    back = StorageManager.download_folder(f"{bucket}/tree", str(tmp_path / "back"))
    assert back is not None
    assert Path(back, "deep", "er", "b.txt").read_text() == "b"
    default = StorageManager.download_folder(f"{bucket}/tree")
    assert default is not None and Path(default, "a.txt").read_text() == "a"


def test_download_file_and_missing_files(bucket: str, tmp_path: Path) -> None:
    local = tmp_path / "x.txt"
    local.write_text("x")
    StorageManager.upload_file(str(local), f"{bucket}/", wait_for_upload=False)
    StorageManager.wait_for_uploads()
    got = StorageManager.download_file(f"{bucket}/x.txt", str(tmp_path / "d"))
    assert got is not None and Path(got).read_text() == "x"
    with pytest.raises(NotFound, match="does not exist"):
        StorageManager.get_local_copy(f"{bucket}/missing.txt")
    with pytest.raises(NotFound):
        StorageManager.download_file(f"{bucket}/missing.txt", str(tmp_path / "d"))
    assert StorageManager.list(f"{bucket}/nothing") == []
