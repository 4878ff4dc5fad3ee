"""Content addressing, atomic writes, names, damaged files and unwritable storage."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ductwork.artifacts import ArtifactStore, blobs, store_for
from ductwork.core.errors import NotFound, StorageError, ValidationError


def visible_files(root: str) -> list[Path]:
    return sorted(p for p in Path(root).rglob("*") if p.is_file())


def test_blob_layout_and_hash(store: ArtifactStore) -> None:
    import hashlib

    record = store.save("t", "a", "x" * 20_000)
    digest = hashlib.sha256(b"x" * 20_000).hexdigest()
    assert record.hash == digest and record.size == 20_000
    assert record.uri == os.path.join(store.root, "blobs", digest[:2], digest + ".txt")
    assert not os.access(record.uri, os.W_OK) or os.geteuid() == 0  # blobs are read-only
    assert (os.stat(record.uri).st_mode & 0o222) == 0


def test_identical_content_is_stored_once(store: ArtifactStore) -> None:
    array = np.arange(5000)
    first = store.save("task1", "a", array)
    second = store.save("task2", "b", array.copy())
    assert first.uri == second.uri and first.hash == second.hash
    assert len(visible_files(store.root)) == 1


def test_concurrent_saves_of_the_same_content(store: ArtifactStore) -> None:
    array = np.arange(200_000)
    records: list[Any] = []
    threads = [threading.Thread(target=lambda: records.append(store.save("t", "a", array))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({r.uri for r in records}) == 1
    assert visible_files(store.root) == [Path(records[0].uri)]
    np.testing.assert_array_equal(store.load(records[0]), array)


def test_a_large_array_is_hashed_while_its_file_goes_to_disk(store: ArtifactStore) -> None:
    import hashlib

    array = np.arange(1 << 19, dtype=np.float64)  # 4 MiB: hashed on a thread (write_stable)
    record = store.save("t", "big", array)
    assert record.hash == hashlib.sha256(Path(record.uri).read_bytes()).hexdigest()
    assert record.size == os.path.getsize(record.uri)
    assert not [t for t in threading.enumerate() if t.name == "ductwork-hash"]  # none outlives it
    np.testing.assert_array_equal(store.load(record), array)


def test_a_large_arrays_preview_is_made_while_it_is_written(store: ArtifactStore) -> None:
    array = np.arange(1 << 21, dtype=np.float64)  # 16 MiB: previewed on a helper thread
    record = store.save("t", "big", array)
    assert record.preview == "ndarray shape=(2097152,) dtype=float64 min=0.0 max=2097151.0"
    assert not [t for t in threading.enumerate() if t.name == "ductwork-preview"]


def test_a_write_after_a_stable_one_is_hashed_after_it(tmp_path: Path) -> None:
    import hashlib

    first, second = os.urandom(3 << 20), os.urandom(2 << 20)
    with open(tmp_path / "out", "wb") as raw:
        sink = blobs.HashingSink(raw)
        sink.write_stable(first)
        sink.write(second)
        digest = sink.hexdigest()
    assert digest == hashlib.sha256(first + second).hexdigest()
    assert (tmp_path / "out").read_bytes() == first + second


def test_damaged_blob_of_another_size_is_replaced(store: ArtifactStore) -> None:
    record = store.save("t", "a", "y" * 30_000)
    os.chmod(record.uri, 0o644)
    Path(record.uri).write_text("short")
    again = store.save("t", "a", "y" * 30_000)
    assert store.load(again) == "y" * 30_000


class Boom(Exception):
    pass


class FailsMidway:
    """Pickles to a few megabytes, but fails half-way through."""

    def __reduce__(self) -> Any:
        raise Boom("failed while serializing")


def test_failure_mid_write_leaves_nothing_visible(store: ArtifactStore) -> None:
    payload = [os.urandom(1 << 20) for _ in range(4)] + [FailsMidway()]
    with pytest.raises(ValidationError, match="artifact 'big' of task t: cannot serialize"):
        store.save("t", "big", payload)
    assert visible_files(store.root) == []


def test_interrupt_mid_write_leaves_nothing_visible(
    store: ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0
    original = blobs.HashingSink._write  # what write and write_stable both do

    def write(self: blobs.HashingSink, data: Any, stable: bool) -> int:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt
        return original(self, data, stable)

    monkeypatch.setattr(blobs.HashingSink, "_write", write)
    with pytest.raises(KeyboardInterrupt):
        store.save("t", "arr", np.arange(1000))
    assert visible_files(store.root) == []


def test_full_disk_is_a_storage_error_naming_the_path(
    store: ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fdopen = os.fdopen

    class FullFile:
        def __init__(self, handle: Any) -> None:
            self.handle = handle

        def write(self, data: Any) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        def close(self) -> None:
            self.handle.close()

    monkeypatch.setattr(blobs.os, "fdopen", lambda fd, mode: FullFile(real_fdopen(fd, mode)))
    with pytest.raises(
        StorageError, match=r"cannot write to artifact storage at .*blobs: no space left on device"
    ):
        store.save("t", "arr", np.arange(1000))
    monkeypatch.undo()
    assert visible_files(store.root) == []


def test_read_only_storage_is_a_storage_error(store: ArtifactStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(blobs.tempfile, "mkstemp", refuse)
    with pytest.raises(StorageError, match=r"artifact storage at .*blobs: Read-only file system \(read-only"):
        store.save("t", "arr", np.arange(10))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through permission bits")
def test_unwritable_root_folder(tmp_path: Path) -> None:
    root = tmp_path / "locked"
    root.mkdir()
    root.chmod(0o555)
    try:
        with pytest.raises(StorageError, match=str(root)):
            ArtifactStore(str(root)).save("t", "arr", np.arange(10))
    finally:
        root.chmod(0o755)


def test_root_under_a_file_is_a_storage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StorageError, match="cannot write to artifact storage at"):
        ArtifactStore(str(tmp_path / "file" / "artifacts")).save("t", "arr", np.arange(10))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        ("a\x00b", "contains a NUL"),
        ("n" * 256, "256 characters long, the limit is 255"),
        (7, "must be a str, got int"),
    ],
)
def test_bad_names_are_refused(store: ArtifactStore, name: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        store.save("task9", name, 1)
    assert "task task9" in str(caught.value)


def test_path_like_names_never_reach_the_filesystem(store: ArtifactStore, tmp_path: Path) -> None:
    record = store.save("t", "../../escape/..", np.zeros(3))
    assert Path(record.uri).resolve().is_relative_to(Path(store.root).resolve())
    assert not (tmp_path / "escape").exists()
    assert record.name == "../../escape/.."


def test_truncated_blob_is_a_clear_error(store: ArtifactStore) -> None:
    record = store.save("task5", "weights", np.arange(1000))
    os.chmod(record.uri, 0o644)
    with open(record.uri, "r+b") as handle:
        handle.truncate(100)
    with pytest.raises(
        StorageError, match=r"artifact 'weights' of task task5: .* is 100 bytes, expected 8128"
    ):
        store.load(record)


def test_garbled_blob_of_the_right_size_is_caught_by_verify(store: ArtifactStore) -> None:
    record = store.save("task5", "weights", np.arange(1000))
    os.chmod(record.uri, 0o644)
    with open(record.uri, "r+b") as handle:
        handle.seek(500)
        handle.write(b"\xff\xff")
    with pytest.raises(StorageError, match=r"artifact 'weights' of task task5: .* has sha256 .*\(damaged\)"):
        store.load(record, verify=True)
    with pytest.raises(StorageError, match="damaged"):
        store.verify(record)


def test_unreadable_content_is_a_clear_error(store: ArtifactStore) -> None:
    record = store.save("task5", "frame", np.arange(10))
    os.chmod(record.uri, 0o644)
    Path(record.uri).write_bytes(b"\x00" * record.size)  # right size, not a .npy
    with pytest.raises(StorageError, match=r"artifact 'frame' of task task5 at .* cannot be read as numpy"):
        store.load(record, verify=False)
    with pytest.raises(StorageError, match=r"artifact 'frame' of task task5: .*\(damaged\)"):
        store.load(record)  # small blobs are re-hashed on every read


def test_missing_blob_is_not_found(store: ArtifactStore) -> None:
    record = store.save("task5", "gone", np.arange(10))
    os.unlink(record.uri)
    with pytest.raises(NotFound, match=r"artifact 'gone' of task task5: stored file .* is missing"):
        store.load(record)


def test_corrupt_inline_value(store: ArtifactStore) -> None:
    record = store.save("task5", "v", {"a": 1})
    record.inline = "{not json"
    with pytest.raises(StorageError, match=r"artifact 'v' of task task5: inline value is not valid JSON"):
        store.load(record)
    with pytest.raises(StorageError, match="does not match its hash"):
        store.verify(record)


def test_store_for_defaults_to_home(home: Path) -> None:
    store = store_for(None)
    assert store.root == str(home / "artifacts")
    assert store_for(None) is store
    record = store.save("t", "a", np.zeros(2))
    assert record.uri.startswith(str(home / "artifacts" / "blobs"))


def test_store_for_reads_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUCTWORK_ARTIFACTS_URI", str(tmp_path / "elsewhere"))
    assert store_for(None).root == str(tmp_path / "elsewhere")
    assert store_for(f"file://{tmp_path}/x").root == str(tmp_path / "x")


def test_empty_root_is_refused() -> None:
    with pytest.raises(ValidationError):
        ArtifactStore("")


def test_local_store_does_not_import_fsspec(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys, numpy\n"
        "from ductwork.artifacts import ArtifactStore\n"
        f"s = ArtifactStore({str(tmp_path / 'a')!r})\n"
        "r = s.save('t', 'n', numpy.zeros(3)); s.load(r); s.local_copy(r)\n"
        "r = s.save('t', 'x', {'a': 1}); s.load(r)\n"
        "assert 'fsspec' not in sys.modules, 'fsspec imported'\n"
        "assert not {'pandas', 'PIL', 'cloudpickle'} & set(sys.modules)\n"
    )
    env = {**os.environ, "DUCTWORK_HOME": str(tmp_path / "home")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_a_transport_can_supply_its_own_blob_writer(tmp_path: Path) -> None:
    class Counting:
        def __init__(self) -> None:
            self.inner = blobs.LocalBlobs(str(tmp_path / "server-side"))
            self.extensions: list[str] = []

        def write(self, extension: str, fill: blobs.Fill) -> blobs.Blob:
            self.extensions.append(extension)
            return self.inner.write(extension, fill)

    writer = Counting()
    store = ArtifactStore("http://server.invalid/artifacts", blobs=writer)
    record = store.save("t", "a", np.arange(3))
    assert writer.extensions == [".npy"]
    assert record.uri.startswith(str(tmp_path / "server-side" / "blobs"))
    np.testing.assert_array_equal(store.load(record), np.arange(3))


def test_leftovers_of_a_killed_writer_are_swept(tmp_path: Path) -> None:
    folder = tmp_path / "artifacts" / "blobs"
    folder.mkdir(parents=True)
    stale, fresh = folder / ".incoming-old.npy", folder / ".incoming-new.npy"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"in progress")
    os.utime(stale, (1, 1))
    ArtifactStore(str(tmp_path / "artifacts")).save("t", "a", np.zeros(2))
    assert not stale.exists() and fresh.exists()


def test_hashing_sink_takes_any_buffer() -> None:
    import hashlib
    import io

    raw = io.BytesIO()
    sink = blobs.HashingSink(raw)
    sink.write(np.arange(6, dtype=np.int16).reshape(2, 3))  # 2-d, not bytes
    sink.write(memoryview(np.arange(10, dtype=np.uint8))[::2])  # not contiguous
    sink.write(bytearray(b"xy"))
    sink.write(os.urandom(3 * blobs.CHUNK + 5))  # large: hashed in a helper thread, in order
    assert sink.size == len(raw.getvalue()) == 12 + 5 + 2 + 3 * blobs.CHUNK + 5
    assert sink.hexdigest() == hashlib.sha256(raw.getvalue()).hexdigest()
