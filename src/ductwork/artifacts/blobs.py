"""Content-addressed blobs: bytes are hashed while they are written, then renamed into place.

A blob lives at `<root>/blobs/<h[:2]>/<h><ext>` where `h` is the sha256 of its bytes, so the same
content is stored once. A writer fills a `HashingSink`; the bytes go to a temporary file that no
reader ever looks at, and only a complete file is renamed (locally) or uploaded (remotely) to its
final name. On any failure the temporary file is removed: nothing half-written is ever visible.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

from ductwork.artifacts import locations
from ductwork.artifacts.cachefolder import cache_folder, prune
from ductwork.core import settings
from ductwork.core.errors import StorageError

CHUNK = 8 << 20  # large writes are cut in chunks this size, hashed while the previous one is written
_OVERLAP_MIN = 1 << 20  # below this, hashing in a helper thread costs more than it saves


class HashingSink(io.RawIOBase):
    """A write-only, non-seekable stream that hashes what it forwards to `raw`.

    Non-seekable on purpose: writers that would seek back (zipfile) then stream instead, so
    every byte passes through the hash exactly once and in order.
    """

    def __init__(self, raw: BinaryIO, where: str = "") -> None:
        super().__init__()
        self._raw = raw
        self._where = where  # the storage folder named in a write error
        self._hash = hashlib.sha256()
        self._hashing: tuple[threading.Thread, list[BaseException]] | None = None
        self.size = 0

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self.size

    def write(self, data: Any) -> int:
        return self._write(data, stable=False)

    def write_stable(self, data: Any) -> int:
        """`write` for a buffer that stays as it is until `hexdigest()` (an array being saved):
        hashing it may go on after this returns, while the file is flushed to disk."""
        return self._write(data, stable=True)

    def _write(self, data: Any, stable: bool) -> int:
        self._hashed()  # in order: what an earlier write left hashing goes first
        view = memoryview(data)
        if view.ndim != 1 or view.format != "B" or not view.c_contiguous:
            # flat bytes for the hash and the slicing below; copies only odd (non-contiguous) views
            view = view.cast("B") if view.c_contiguous else memoryview(view.tobytes())
        length = len(view)
        try:
            if length < _OVERLAP_MIN:
                self._hash.update(view)
                self._raw.write(view)
            else:
                self._write_large(view)
                if not stable:
                    self._hashed()  # the caller's buffer must not change before it is hashed
        except OSError as exc:  # ENOSPC, EIO, EROFS... are the storage's fault, not the object's
            raise storage_error(self._where, exc) from exc
        self.size += length
        return length

    def _write_large(self, view: memoryview) -> None:
        # hashlib and file writes both release the GIL on big buffers: a helper thread hashes
        # the whole buffer while this one writes it. A plain thread, not an executor: an upload
        # finishing while the interpreter exits must still be able to hash (executors refuse
        # new work by then).
        failure: list[BaseException] = []

        def hash_all() -> None:
            try:
                for start in range(0, len(view), CHUNK):
                    self._hash.update(view[start : start + CHUNK])
            except BaseException as exc:
                failure.append(exc)

        hasher = threading.Thread(target=hash_all, name="ductwork-hash", daemon=True)
        hasher.start()
        self._hashing = (hasher, failure)
        for start in range(0, len(view), CHUNK):
            self._raw.write(view[start : start + CHUNK])

    def _hashed(self) -> None:
        """Wait for the hashing thread, if one runs; raise what it raised."""
        if self._hashing is None:
            return
        hasher, failure = self._hashing
        hasher.join()
        self._hashing = None
        if failure:
            raise failure[0]

    def hexdigest(self) -> str:
        self._hashed()
        return self._hash.hexdigest()

    def abandon(self) -> None:
        """The write failed: wait for any hashing thread (none outlives the write), ignore it."""
        if self._hashing is not None:
            self._hashing[0].join()
            self._hashing = None


@dataclass(frozen=True)
class Blob:
    uri: str  # local absolute path or remote URL
    hash: str
    size: int


Fill = Callable[[HashingSink], None]


class BlobWriter(Protocol):
    """Where an `ArtifactStore` puts new blobs: `LocalBlobs`, `RemoteBlobs`, or a transport's
    own (e.g. one that uploads through a server the client can reach but its storage cannot)."""

    def write(self, extension: str, fill: Fill) -> Blob: ...


def storage_error(path: str, exc: OSError, doing: str = "write to") -> StorageError:
    """A StorageError naming the path and, in words, why the OS refused."""
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        reason = "no space left on device"
    elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        reason = f"{reason} (read-only or not writable)"
    return StorageError(f"cannot {doing} artifact storage at {path}: {reason}")


def blob_name(digest: str, extension: str) -> tuple[str, str]:
    """The folder and file name of a blob, relative to the `blobs` folder."""
    return digest[:2], digest + extension


def write_temp(folder: str, extension: str, fill: Fill) -> tuple[str, str, int]:
    """Fill a new temporary file in `folder`; returns (path, sha256, size). Removed on failure."""
    try:
        os.makedirs(folder, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=".incoming-", suffix=extension, dir=folder)
    except OSError as exc:
        raise storage_error(folder, exc) from exc
    raw = os.fdopen(fd, "wb")
    sink = HashingSink(raw, folder)
    try:
        fill(sink)
        try:
            raw.flush()  # a full disk may only say so now
            os.fsync(raw.fileno())  # the bytes are on disk before any name points at them
            raw.close()
        except OSError as exc:
            raise storage_error(folder, exc) from exc
        return temp, sink.hexdigest(), sink.size  # a stable buffer was hashed during the fsync
    except BaseException:
        try:
            raw.close()
        except OSError:
            pass
        _discard(temp)
        sink.abandon()
        raise


def _discard(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def place(temp: str, destination: str, size: int, *, replace: bool = False) -> None:
    """Rename a complete temporary file to its content-addressed name (atomic on POSIX and NT).

    An existing blob of the right size already holds these bytes (its name is their hash), so
    the copy is dropped, unless `replace` (the caller knows the existing one is bad); one of
    another size is damaged and gets replaced.
    """
    try:
        os.chmod(temp, 0o444)  # blobs are immutable; a stray write through a link must fail
        if not replace and _size_or_none(destination) == size:
            _discard(temp)
            # a fresh time says "just used": garbage collection spares young blobs, and the
            # record about to point at this one may not be in the database yet
            os.utime(destination)
            return
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        os.replace(temp, destination)
        _fsync_folder(os.path.dirname(destination))  # the new name survives a power cut too
    except OSError as exc:
        _discard(temp)
        raise storage_error(destination, exc) from exc


def _fsync_folder(folder: str) -> None:
    if os.name != "posix":
        return  # NTFS has no folder handles to fsync; its renames are journaled
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


STALE_INCOMING_SECONDS = 24 * 3600


def sweep_incoming(folder: str, max_age: float = STALE_INCOMING_SECONDS) -> int:
    """Remove temporary files a killed writer left in `folder` (older than `max_age` seconds,
    so no live upload is touched). Returns how many went."""
    import time

    removed = 0
    cutoff = time.time() - max_age
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith(".incoming-") and entry.stat().st_mtime < cutoff:
                    _discard(entry.path)
                    removed += 1
    except OSError:
        pass  # nothing to sweep, or not allowed to: the write itself will say what is wrong
    return removed


def _size_or_none(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None


class LocalBlobs:
    """Blobs under a local folder, with plain os calls (no fsspec import)."""

    def __init__(self, root: str) -> None:
        self.root = locations.local_path(root)
        self.folder = os.path.join(self.root, "blobs")
        self._swept = False

    def write(self, extension: str, fill: Fill) -> Blob:
        if not self._swept:
            self._swept = True
            sweep_incoming(self.folder)
        # The temporary file sits in `blobs/` itself: same filesystem, so the rename is atomic.
        temp, digest, size = write_temp(self.folder, extension, fill)
        destination = os.path.join(self.folder, *blob_name(digest, extension))
        place(temp, destination, size)
        return Blob(destination, digest, size)


class RemoteBlobs:
    """Blobs under an fsspec URL. Bytes are hashed into a local temporary file first (the name
    needs the hash), then uploaded in one put, which object stores publish atomically. The local
    file then becomes the cached copy, so reading back what was just written costs nothing."""

    def __init__(self, root: str, storage_options: dict[str, Any] | None = None) -> None:
        self.root = root.rstrip("/")
        self.storage_options = storage_options
        self.fs, self._root_path = locations.filesystem(self.root, storage_options)
        self._swept = False

    def write(self, extension: str, fill: Fill) -> Blob:
        cache = cache_folder()
        if not self._swept:
            self._swept = True
            sweep_incoming(cache)
        temp, digest, size = write_temp(cache, extension, fill)
        folder, name = blob_name(digest, extension)
        remote_path = f"{self._root_path.rstrip('/')}/blobs/{folder}/{name}"
        uri = locations.join(self.root, "blobs", folder, name)
        try:
            if not self._has(remote_path, size):
                self.fs.put_file(temp, remote_path)
        except BaseException as exc:
            _discard(temp)
            # Every driver fails its own way (botocore's NoCredentialsError is no OSError): all
            # of it is the storage's fault, said with the location.
            if isinstance(exc, Exception) and not isinstance(exc, StorageError):
                raise StorageError(f"cannot upload artifact to {uri}: {type(exc).__name__}: {exc}") from exc
            raise
        kept = os.path.join(cache, folder, name)
        place(temp, kept, size)
        prune(cache, settings.cache_limit(), keep=kept)
        return Blob(uri, digest, size)

    def _has(self, remote_path: str, size: int) -> bool:
        self.fs.invalidate_cache(remote_path)  # another process may have written or deleted it
        try:
            return int(self.fs.info(remote_path)["size"]) == size
        except FileNotFoundError:
            return False
