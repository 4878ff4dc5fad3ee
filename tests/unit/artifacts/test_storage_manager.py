"""StorageManager on local paths (the S3 side is in tests/integration/artifacts)."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from ductwork.core.errors import NotFound, StorageError, ValidationError
from ductwork.sdk.storage import StorageManager


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "source.csv"
    path.write_text("a,b\n1,2\n")
    return path


def test_upload_and_download_a_file(source: Path, tmp_path: Path) -> None:
    target = tmp_path / "remote" / "data" / "copy.csv"
    assert StorageManager.upload_file(str(source), str(target)) == str(target)
    assert target.read_text() == "a,b\n1,2\n"
    assert StorageManager.exists_file(str(target))
    assert not StorageManager.exists_file(str(target.parent))
    assert StorageManager.get_file_size_bytes(str(target)) == 8

    downloaded = StorageManager.download_file(str(target), local_folder=str(tmp_path / "down"))
    assert downloaded == str(tmp_path / "down" / "copy.csv")
    assert Path(downloaded).read_text() == "a,b\n1,2\n"


def test_upload_into_a_folder_url_keeps_the_name(source: Path, tmp_path: Path) -> None:
    result = StorageManager.upload_file(str(source), f"file://{tmp_path}/bucket/")
    assert result == str(tmp_path / "bucket" / "source.csv")
    assert (tmp_path / "bucket" / "source.csv").exists()


def test_download_keeps_an_existing_file_unless_overwrite(source: Path, tmp_path: Path) -> None:
    folder = tmp_path / "down"
    folder.mkdir()
    (folder / "source.csv").write_text("old")
    assert Path(StorageManager.download_file(str(source), str(folder)) or "").read_text() == "old"
    StorageManager.download_file(str(source), str(folder), overwrite=True)
    assert (folder / "source.csv").read_text() == "a,b\n1,2\n"


def test_empty_download_is_refused_unless_asked(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(ValidationError, match="is empty"):
        StorageManager.download_file(str(tmp_path / "empty.txt"), str(tmp_path / "d"))
    assert not (tmp_path / "d" / "empty.txt").exists()
    got = StorageManager.download_file(
        str(tmp_path / "empty.txt"), str(tmp_path / "d"), skip_zero_size_check=True
    )
    assert got is not None and os.path.getsize(got) == 0


def test_errors_name_the_file_or_are_silenced(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"cannot upload .*missing.txt: no such file"):
        StorageManager.upload_file(str(tmp_path / "missing.txt"), str(tmp_path / "x"))
    with pytest.raises(NotFound, match=r"missing.txt does not exist"):
        StorageManager.download_file(str(tmp_path / "missing.txt"), str(tmp_path / "d"))
    assert (
        StorageManager.download_file(str(tmp_path / "missing.txt"), str(tmp_path), silence_errors=True)
        is None
    )
    with pytest.raises(NotFound):
        StorageManager.get_local_copy(str(tmp_path / "missing.txt"))
    with pytest.raises(ValidationError, match="remote_url must be a non-empty path or URL"):
        StorageManager.get_local_copy("")
    with pytest.raises(ValidationError, match="retries must be a non-negative int"):
        StorageManager.upload_file(str(tmp_path), str(tmp_path / "x"), retries=-1)


def test_unwritable_destination_is_a_storage_error(source: Path, tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("")
    with pytest.raises(StorageError, match=r"cannot write to artifact storage at .*a_file"):
        StorageManager.upload_file(str(source), str(tmp_path / "a_file" / "x.csv"))


def test_local_copy_of_a_local_file_is_the_file(source: Path) -> None:
    assert StorageManager.get_local_copy(str(source)) == str(source)
    assert StorageManager.get_local_copy(f"file://{source}") == str(source)


def test_local_copy_extracts_archives(tmp_path: Path, home: Path) -> None:
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("inner/data.txt", "zipped")
    folder = StorageManager.get_local_copy(str(archive))
    assert Path(folder, "inner", "data.txt").read_text() == "zipped"
    assert folder.startswith(str(home / "cache"))
    assert StorageManager.get_local_copy(str(archive)) == folder  # extracted once
    assert StorageManager.get_local_copy(str(archive), extract_archive=False) == str(archive)

    tarball = tmp_path / "bundle.tar.gz"
    with tarfile.open(tarball, "w:gz") as handle:
        data = b"tarred"
        info = tarfile.TarInfo("t/data.txt")
        info.size = len(data)
        handle.addfile(info, io.BytesIO(data))
    assert Path(StorageManager.get_local_copy(str(tarball)), "t", "data.txt").read_text() == "tarred"


@pytest.mark.parametrize("member", ["../evil.txt", "/abs/evil.txt", "a/../../evil.txt"])
def test_archive_members_cannot_escape(tmp_path: Path, member: str) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr(member, "x")
    with pytest.raises(StorageError, match="outside its folder"):
        StorageManager.get_local_copy(str(archive))
    assert not (tmp_path / "evil.txt").exists()
    assert not Path("/abs/evil.txt").exists()


def test_tar_symlink_cannot_escape(tmp_path: Path) -> None:
    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as handle:
        info = tarfile.TarInfo("link")
        info.type = tarfile.SYMTYPE
        info.linkname = "../../etc/passwd"
        handle.addfile(info)
    with pytest.raises(StorageError, match="outside its folder"):
        StorageManager.get_local_copy(str(archive))


def test_folders_and_listing(tmp_path: Path) -> None:
    local = tmp_path / "local"
    (local / "sub").mkdir(parents=True)
    (local / "a.csv").write_text("1")
    (local / "b.txt").write_text("22")
    (local / "sub" / "c.csv").write_text("333")
    remote = tmp_path / "remote"
    uploaded = StorageManager.upload_folder(str(local), str(remote))
    assert sorted(uploaded) == sorted(str(remote / n) for n in ("a.csv", "b.txt", "sub/c.csv"))
    assert StorageManager.list(str(remote)) == ["a.csv", "b.txt", "sub/c.csv"]
    assert StorageManager.list(str(remote), return_full_path=True)[0] == str(remote / "a.csv")
    listed = StorageManager.list(str(remote), with_metadata=True)
    assert listed[2]["name"] == "sub/c.csv" and listed[2]["size"] == 3  # type: ignore[index]
    assert isinstance(listed[0]["last_modified"], float)  # type: ignore[index]

    only_csv = StorageManager.download_folder(str(remote), str(tmp_path / "back"), match_wildcard="*.csv")
    assert only_csv == str(tmp_path / "back")
    assert sorted(p.name for p in (tmp_path / "back").rglob("*") if p.is_file()) == ["a.csv", "c.csv"]
    assert StorageManager.list(str(tmp_path / "nothing-here")) == []


def test_background_upload(source: Path, tmp_path: Path) -> None:
    target = tmp_path / "bg" / "x.csv"
    assert StorageManager.upload_file(str(source), str(target), wait_for_upload=False) == str(target)
    StorageManager.wait_for_uploads()
    assert target.read_text() == "a,b\n1,2\n"


def test_background_upload_failure_is_raised_on_wait(source: Path, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    StorageManager.upload_file(str(source), str(tmp_path / "f" / "x.csv"), wait_for_upload=False)
    with pytest.raises(StorageError):
        StorageManager.wait_for_uploads()


def test_cache_context_must_be_a_simple_name(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="cache_context"):
        StorageManager.get_local_copy("memory://x/y.txt", cache_context="../up")


def test_public_import() -> None:
    import ductwork

    assert ductwork.StorageManager is StorageManager


def test_cache_file_limit_drops_the_least_recently_used(home: Path) -> None:
    import time

    import fsspec

    memory = fsspec.filesystem("memory")
    for name in "abc":
        memory.pipe(f"/limit-test/{name}.txt", name.encode())
    assert StorageManager.set_cache_file_limit(2, cache_context="lim") == 2
    first = StorageManager.get_local_copy("memory://limit-test/a.txt", cache_context="lim")
    time.sleep(0.01)
    second = StorageManager.get_local_copy("memory://limit-test/b.txt", cache_context="lim")
    time.sleep(0.01)
    assert StorageManager.get_local_copy("memory://limit-test/a.txt", cache_context="lim") == first  # a hit
    time.sleep(0.01)
    third = StorageManager.get_local_copy("memory://limit-test/c.txt", cache_context="lim")
    assert Path(first).exists() and Path(third).exists()
    assert not Path(second).exists()  # b was the least recently used
    with pytest.raises(ValidationError, match="cache_file_limit must be a positive int"):
        StorageManager.set_cache_file_limit(0)
