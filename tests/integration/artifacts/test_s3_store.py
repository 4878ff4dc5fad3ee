"""The artifact store on an S3-compatible server (moto on loopback)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ductwork.artifacts import ArtifactStore, store_for
from ductwork.core.errors import NotFound, StorageError


def s3fs_of(endpoint: str) -> Any:
    import fsspec

    return fsspec.filesystem("s3", client_kwargs={"endpoint_url": endpoint})


def drop_cache(home: Path) -> None:
    shutil.rmtree(home / "cache", ignore_errors=True)


@pytest.fixture
def home(s3_env: str, tmp_path: Path) -> Path:
    return tmp_path / "home"


def test_every_kind_round_trips_through_s3(bucket: str, home: Path, tmp_path: Path) -> None:
    store = store_for(f"{bucket}/artifacts")
    assert store.remote
    (tmp_path / "folder" / "sub").mkdir(parents=True)
    (tmp_path / "folder" / "sub" / "x.txt").write_text("inside")
    (tmp_path / "notes.md").write_text("# notes")
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    objects: dict[str, Any] = {
        "array": np.arange(1000).reshape(10, 100),
        "frame": frame,
        "big_dict": {"k": list(range(5000))},
        "text": "word " * 5000,
        "image": Image.new("RGB", (3, 2), (1, 2, 3)),
        "closure": (lambda offset: lambda x: x + offset)(10),
        "file": tmp_path / "notes.md",
        "folder": tmp_path / "folder",
        "small": (1, 2),
    }
    records = {name: store.save("task-s3", name, obj) for name, obj in objects.items()}
    for name, record in records.items():
        if name != "small":
            assert record.uri.startswith(f"{bucket}/artifacts/blobs/{record.hash[:2]}/{record.hash}"), name
    drop_cache(home)  # loads below must download

    np.testing.assert_array_equal(store.load(records["array"]), objects["array"])
    pd.testing.assert_frame_equal(store.load(records["frame"]), frame)
    assert store.load(records["big_dict"]) == objects["big_dict"]
    assert store.load(records["text"]) == objects["text"]
    assert store.load(records["image"]).getpixel((0, 0)) == (1, 2, 3)
    assert store.load(records["closure"])(5) == 15
    copy = store.load(records["file"])
    assert copy.name == "notes.md" and copy.read_text() == "# notes"
    assert (store.load(records["folder"]) / "sub" / "x.txt").read_text() == "inside"
    assert store.load(records["small"]) == (1, 2)
    # a load from a fresh process cache lands in the content-addressed cache
    array_record = records["array"]
    assert store.local_copy(array_record).startswith(str(home / "cache" / "blobs" / array_record.hash[:2]))


def test_same_content_is_uploaded_once(bucket: str, s3_env: str) -> None:
    store = ArtifactStore(f"{bucket}/root", storage_options={"client_kwargs": {"endpoint_url": s3_env}})
    first = store.save("a", "x", np.ones(5000))
    second = store.save("b", "y", np.ones(5000))
    assert first.uri == second.uri
    assert len(s3fs_of(s3_env).find(f"{bucket}/root")) == 1


def test_write_then_read_needs_no_download(bucket: str, home: Path, s3_env: str) -> None:
    store = store_for(f"{bucket}/a")
    record = store.save("t", "arr", np.arange(100))
    # the uploaded bytes were kept as the cached copy
    fs = s3fs_of(s3_env)
    fs.rm(record.uri)
    np.testing.assert_array_equal(store.load(record), np.arange(100))


def test_damaged_remote_blob_is_refused(bucket: str, home: Path, s3_env: str) -> None:
    store = store_for(f"{bucket}/a")
    record = store.save("task7", "weights", np.arange(100))
    drop_cache(home)
    fs = s3fs_of(s3_env)
    data = bytearray(fs.cat(record.uri))
    data[-1] ^= 0xFF
    fs.pipe(record.uri, bytes(data))
    with pytest.raises(StorageError, match=r"artifact 'weights' of task task7: .* expected .* \(damaged\)"):
        store.load(record)
    assert not list((home / "cache" / "blobs").rglob("*.npy"))  # nothing bad was cached


def test_missing_remote_blob_is_not_found(bucket: str, home: Path, s3_env: str) -> None:
    store = store_for(f"{bucket}/a")
    record = store.save("task7", "gone", np.arange(100))
    drop_cache(home)
    s3fs_of(s3_env).rm(record.uri)
    with pytest.raises(NotFound, match=r"artifact 'gone' of task task7: .* does not exist"):
        store.load(record)


def test_unreachable_bucket_is_a_storage_error(s3_env: str, home: Path) -> None:
    store = store_for("s3://no-such-bucket-ductwork/a")
    with pytest.raises(StorageError, match="cannot upload artifact to s3://no-such-bucket-ductwork/a/blobs/"):
        store.save("t", "arr", np.arange(10))
    assert not [p for p in (home / "cache").rglob("*") if p.is_file()]


def test_memory_filesystem_works_too(home: Path) -> None:
    store = ArtifactStore("memory://ductwork-test")
    record = store.save("t", "arr", np.arange(7))
    drop_cache(home)
    np.testing.assert_array_equal(store.load(record), np.arange(7))


def test_verify_repairs_a_damaged_cached_copy(bucket: str, home: Path) -> None:
    store = store_for(f"{bucket}/a")
    record = store.save("task7", "weights", np.arange(100))
    cached = Path(store.local_copy(record))
    cached.chmod(0o644)
    data = bytearray(cached.read_bytes())
    data[-1] ^= 0xFF
    cached.write_bytes(bytes(data))
    np.testing.assert_array_equal(store.load(record, verify=True), np.arange(100))
    store.verify(record)  # the cached copy was replaced by a checked download


def test_forced_download_replaces_the_cached_copy(bucket: str, home: Path) -> None:
    store = store_for(f"{bucket}/a")
    record = store.save("task7", "weights", np.arange(100))
    cached = Path(store.local_copy(record))
    cached.chmod(0o644)
    cached.write_bytes(b"\x00" * record.size)
    assert Path(store.local_copy(record, force_download=True)).read_bytes() != b"\x00" * record.size
    np.testing.assert_array_equal(store.load(record), np.arange(100))


def test_garbage_collection_on_s3(bucket: str, home: Path, s3_env: str) -> None:
    from ductwork.artifacts.collect import collect_garbage

    store = store_for(f"{bucket}/gc")
    kept = store.save("t", "a", np.arange(10))
    dropped = store.save("t", "b", np.arange(11))
    assert collect_garbage(store.root, {kept.hash}).removed == 0  # both too young
    result = collect_garbage(store.root, {kept.hash}, grace_seconds=-60)
    assert (result.removed, result.freed, result.kept) == (1, dropped.size, 1)
    fs = s3fs_of(s3_env)
    assert fs.exists(kept.uri) and not fs.exists(dropped.uri)
