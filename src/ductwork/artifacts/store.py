"""`ArtifactStore`: save any object under a task, get it back as the same type.

Small values that JSON can carry with their types (see `typed_json`) are kept INLINE in the
record: no file, no I/O, so a step returning an int or a short dict costs a record and nothing
else. Everything else becomes a content-addressed blob (`blobs`) under the store's root, a local
folder or any fsspec URL; remote blobs are read through a local cache that checks their hash.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, BinaryIO

from ductwork.artifacts import archives, locations, serializers, typed_json
from ductwork.artifacts.blobs import Blob, BlobWriter, LocalBlobs, RemoteBlobs, storage_error
from ductwork.artifacts.cachefolder import cache_root
from ductwork.artifacts.names import validate_name
from ductwork.core import settings
from ductwork.core.errors import NotFound, StorageError, ValidationError
from ductwork.core.records import ArtifactRecord

INLINE_LIMIT = 16 * 1024  # bytes of JSON text; above it a value gets a blob
# Blobs up to this size are re-hashed on every read (about 8 ms at most): silent damage is
# caught where it costs little. Larger ones (memory-mapped arrays, models) are checked for
# size on read and re-hashed only with `verify=True`.
AUTO_VERIFY_MAX_BYTES = 16 << 20

Serialize = Callable[[Any], bytes | bytearray]
Deserialize = Callable[[bytes], Any]


def label(record: ArtifactRecord) -> str:
    return f"artifact {record.name!r} of task {record.task_id}"


class ArtifactStore:
    """Artifacts under one root: a local folder (plain os calls) or an fsspec URL."""

    def __init__(
        self,
        root_uri: str,
        *,
        storage_options: dict[str, Any] | None = None,
        blobs: BlobWriter | None = None,
    ) -> None:
        """`storage_options` go to fsspec for remote roots; `blobs` replaces the default
        writer of new blobs (reads still go by each record's own URI)."""
        if not root_uri:
            raise ValidationError("artifact storage root must not be empty")
        self.remote = locations.is_remote(root_uri)
        self.root = root_uri.rstrip("/") if self.remote else locations.local_path(root_uri)
        self.storage_options = storage_options
        self._blobs = blobs

    def __repr__(self) -> str:
        return f"ArtifactStore({self.root!r})"

    def _blob_writer(self) -> BlobWriter:
        if self._blobs is None:  # created on first write: reading never needs a remote client
            if self.remote:
                self._blobs = RemoteBlobs(self.root, self.storage_options)
            else:
                self._blobs = LocalBlobs(self.root)
        return self._blobs

    # ---- writing

    def save(
        self,
        task_id: str,
        name: str,
        obj: Any,
        *,
        metadata: Mapping[str, Any] | None = None,
        preview: Any = None,
        serialization_function: Serialize | None = None,
        extension_name: str | None = None,
        strings_as_paths: bool = True,
        inline: bool = True,
    ) -> ArtifactRecord:
        """Store `obj` as artifact `name` of `task_id` and return its record (not yet in the
        database: the caller puts it there, after the bytes are safely stored).

        A `pathlib.Path` is stored as the file (or zipped folder) it names; so is a str naming
        an existing file or folder, as ClearML's `upload_artifact` does, unless
        `strings_as_paths=False` (step return values: a str stays a str).
        """
        if not inline:  # not asked here (the caller asked `held_inline`): the name checked here
            validate_name(task_id, name)
        else:
            found = held_inline(
                task_id,
                name,
                obj,
                metadata=metadata,
                preview=preview,
                serialization_function=serialization_function,
                extension_name=extension_name,
                strings_as_paths=strings_as_paths,
            )
            if found is not None:
                return found
        record = ArtifactRecord(task_id=task_id, name=name, metadata=dict(metadata or {}))
        where = f"artifact {name!r} of task {task_id}"
        chosen: serializers.Serializer
        if serialization_function is not None:
            chosen = serializers.CustomSerializer(serialization_function, extension_name)
        else:
            try:
                chosen = serializers.serializer_for(obj, extension_name, strings_as_paths=strings_as_paths)
            except FileNotFoundError as exc:
                raise ValidationError(f"{where}: path {exc.args[0]!r} does not exist") from exc
            except ValidationError as exc:
                raise ValidationError(f"{where}: {exc}") from exc
        self._save_blob(record, obj, chosen, where)
        return _with_preview(record, preview)

    def _save_blob(
        self, record: ArtifactRecord, obj: Any, chosen: serializers.Serializer, where: str
    ) -> None:
        early = _Preview(chosen, obj) if _nbytes(obj) >= EARLY_PREVIEW_BYTES else None
        used, blob = self._write_with_fallbacks(obj, chosen, where)
        record.type = used.kind
        record.content_type = used.content_type
        record.uri, record.hash, record.size = blob.uri, blob.hash, blob.size
        if used.kind in ("file", "folder"):
            record.file_name = os.path.basename(os.path.normpath(serializers.path_of(obj) or ""))
        try:
            record.preview = early.result() if early is not None and used is chosen else used.preview(obj)
        except Exception as exc:  # a preview is a courtesy: never lose the artifact over it
            record.preview = f"(no preview: {exc})"

    def _write_with_fallbacks(
        self, obj: Any, chosen: serializers.Serializer, where: str
    ) -> tuple[serializers.Serializer, Blob]:
        """Write with `chosen`, or with its fallbacks when it refuses the object (pandas and
        PIL to pickle, pickle to cloudpickle). A refused attempt leaves no file behind."""
        blobs = self._blob_writer()
        candidate = chosen
        while True:
            try:
                return candidate, blobs.write(candidate.extension, partial(candidate.write, obj))
            except StorageError:
                raise
            except Exception as exc:
                fallback = candidate.fallback()
                if fallback is None:
                    kind = type(obj)
                    raise ValidationError(
                        f"{where}: cannot serialize {kind.__module__}.{kind.__qualname__} "
                        f"as {candidate.kind}: {exc}"
                    ) from exc
                candidate = fallback

    # ---- reading

    def load(
        self,
        record: ArtifactRecord,
        *,
        deserialization_function: Deserialize | None = None,
        verify: bool | None = None,
    ) -> Any:
        """The stored object, as the type it was saved as.

        Files come back as a `pathlib.Path` to a local copy with the original file name, folders
        as a `Path` to the extracted folder, custom bytes as `bytes` unless a
        `deserialization_function(bytes)` is given. Large local arrays come back memory-mapped
        (copy-on-write, so the array is writable and the stored blob never changes).
        `verify`: re-hash the stored bytes first (None: only blobs up to 16 MiB).
        """
        if deserialization_function is not None:
            with self.open(record, verify=verify) as handle:
                data = handle.read()
            return _call_user(deserialization_function, data, record)
        if record.inline is not None:
            return _load_inline(record)
        if record.type in ("file", "folder"):
            from pathlib import Path

            return Path(self.local_copy(record, verify=verify))
        path = self._readable_path(record, verify=verify)
        reader = self._reader(record)
        try:
            return reader.read(path)
        except ImportError as exc:
            raise StorageError(f"{label(record)}: reading a {record.type} artifact needs {exc.name}") from exc
        except Exception as exc:  # truncated, garbled or foreign bytes: name the artifact, keep the cause
            raise StorageError(
                f"{label(record)} at {record.uri} cannot be read as {record.type}: {exc}"
            ) from exc

    def open(self, record: ArtifactRecord, *, verify: bool | None = None) -> BinaryIO:
        """The stored bytes as a binary file object (inline values: their JSON text)."""
        if record.inline is not None:
            return io.BytesIO(record.inline.encode("utf-8", "surrogatepass"))
        return open(self._readable_path(record, verify=verify), "rb")

    def local_copy(
        self,
        record: ArtifactRecord,
        *,
        extract_archive: bool = True,
        verify: bool | None = None,
        force_download: bool = False,
    ) -> str:
        """A local path to the artifact's bytes: the blob itself for local storage, a cached,
        hash-checked download for remote storage; folders extracted when `extract_archive`."""
        if record.inline is not None:
            return self._inline_copy(record)
        path = self._readable_path(record, verify=verify, force_download=force_download)
        if record.type == "folder" and extract_archive:
            return self._extracted(record, path)
        if record.type == "file" and record.file_name:
            return self._named_copy(record, path)
        return path

    def verify(self, record: ArtifactRecord) -> None:
        """Re-hash the stored bytes; StorageError if they are not what was saved."""
        if record.inline is not None:
            actual = hashlib.sha256(record.inline.encode("utf-8", "surrogatepass")).hexdigest()
            if actual != record.hash:
                raise StorageError(f"{label(record)}: inline value does not match its hash")
            return
        self._readable_path(record, verify=True)

    # ---- helpers

    def _reader(self, record: ArtifactRecord) -> serializers.Serializer:
        extension = serializers.file_extension(record.uri)
        try:
            return serializers.reader_for(record.type, extension)
        except ValidationError as exc:
            raise StorageError(f"{label(record)}: {exc}") from exc

    def _readable_path(
        self, record: ArtifactRecord, *, verify: bool | None, force_download: bool = False
    ) -> str:
        """A local file holding the record's bytes, checked for size, and for its hash when
        `verify` (None: when it is small enough that hashing costs next to reading it)."""
        if verify is None:
            verify = record.size <= AUTO_VERIFY_MAX_BYTES
        if not record.uri:
            raise StorageError(f"{label(record)} has neither a stored file nor an inline value")
        if locations.is_remote(record.uri):
            from ductwork.artifacts import cache

            path = cache.fetch(record, self.storage_options, force=force_download)
            if verify:  # a download is always checked; a cached copy when asked
                try:
                    check_hash(record, path)
                except StorageError:  # the cached copy went bad: fetch a checked one again
                    path = cache.fetch(record, self.storage_options, force=True)
            return path
        path = locations.local_path(record.uri)
        try:
            size = os.stat(path).st_size
        except FileNotFoundError as exc:
            raise NotFound(f"{label(record)}: stored file {path} is missing") from exc
        except OSError as exc:
            raise StorageError(f"{label(record)}: stored file {path} is unreadable: {exc.strerror}") from exc
        if size != record.size:
            raise StorageError(
                f"{label(record)}: stored file {path} is {size} bytes, expected {record.size}"
                " (damaged or truncated)"
            )
        if verify:
            check_hash(record, path)
        return path

    def _extracted(self, record: ArtifactRecord, path: str) -> str:
        destination = os.path.join(cache_root(), "extracted", record.hash)
        try:
            return archives.extract(path, destination)
        except StorageError as exc:
            raise StorageError(f"{label(record)}: {exc}") from exc
        except OSError as exc:
            raise storage_error(destination, exc, "extract into") from exc

    def _named_copy(self, record: ArtifactRecord, path: str) -> str:
        """The blob under its original file name, as a hard link when possible (blobs are
        read-only, so the link cannot be used to change them), else a copy."""
        folder = os.path.join(cache_root(), "files", record.hash)
        target = os.path.join(folder, _plain_file_name(record))
        if os.path.exists(target):
            return target
        try:
            os.makedirs(folder, exist_ok=True)
            staging = os.path.join(folder, f".{os.getpid()}.{threading.get_ident()}.incoming")
            try:
                os.link(path, staging)
            except OSError:
                import shutil

                shutil.copyfile(path, staging)
            os.replace(staging, target)
        except OSError as exc:
            raise storage_error(folder, exc) from exc
        return target

    def _inline_copy(self, record: ArtifactRecord) -> str:
        """Inline values have no file; write one into the cache when a path is asked for."""
        from ductwork.artifacts.blobs import place, write_temp

        is_text = record.type == "str"
        folder = os.path.join(cache_root(), "inline")
        target = os.path.join(folder, record.hash + (".txt" if is_text else ".json"))
        if not os.path.exists(target):
            text = _load_inline(record) if is_text else (record.inline or "")
            data = text.encode("utf-8", "surrogatepass")
            temp, _, size = write_temp(folder, "", partial(_write_all, data=data))
            place(temp, target, size)
        return target


# A preview of an object this large (an array's min and max: ~15 ms per 100 MB) is made on a
# helper thread while the object is written, hashed and flushed to disk.
EARLY_PREVIEW_BYTES = 16 << 20


def _nbytes(obj: Any) -> int:
    size = getattr(obj, "nbytes", 0)  # numpy arrays (pandas frames have memory_usage instead)
    return size if isinstance(size, int) else 0


class _Preview:
    """`serializer.preview(obj)` made on a helper thread; `result()` waits for it."""

    def __init__(self, serializer: serializers.Serializer, obj: Any) -> None:
        self._text = ""
        self._failure: Exception | None = None
        self._thread = threading.Thread(target=self._make, args=(serializer, obj), name="ductwork-preview")
        self._thread.daemon = True
        self._thread.start()

    def _make(self, serializer: serializers.Serializer, obj: Any) -> None:
        try:
            self._text = serializer.preview(obj)
        except Exception as exc:
            self._failure = exc

    def result(self) -> str:
        self._thread.join()
        if self._failure is not None:
            raise self._failure
        return self._text


def _plain_file_name(record: ArtifactRecord) -> str:
    """The record's original file name if it is a plain name, else one made from the hash:
    a record read back from a database or a request must not steer where files go."""
    name = record.file_name
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name or len(name) > 255:
        return record.hash + serializers.file_extension(record.uri)
    return name


def check_hash(record: ArtifactRecord, path: str) -> None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(8 << 20):
                digest.update(chunk)
    except OSError as exc:
        raise StorageError(f"{label(record)}: stored file {path} is unreadable: {exc.strerror}") from exc
    if digest.hexdigest() != record.hash:
        raise StorageError(
            f"{label(record)}: stored file {path} has sha256 {digest.hexdigest()},"
            f" expected {record.hash} (damaged)"
        )


def _write_all(sink: BinaryIO, data: bytes) -> None:
    sink.write(data)


def _load_inline(record: ArtifactRecord) -> Any:
    try:
        return typed_json.loads(record.inline or "")
    except ValueError as exc:
        raise StorageError(f"{label(record)}: inline value is not valid JSON: {exc}") from exc


def _call_user(function: Deserialize, data: bytes, record: ArtifactRecord) -> Any:
    try:
        return function(data)
    except Exception as exc:
        raise ValidationError(f"{label(record)}: deserialization_function failed: {exc!r}") from exc


def held_inline(
    task_id: str,
    name: str,
    obj: Any,
    *,
    metadata: Mapping[str, Any] | None = None,
    preview: Any = None,
    serialization_function: Serialize | None = None,
    extension_name: str | None = None,
    strings_as_paths: bool = True,
) -> ArtifactRecord | None:
    """The record of `obj` stored in the record itself (a small JSON value, as `save` stores
    it), None when it needs bytes somewhere: a value like that needs no storage, so a caller
    may ask before choosing one."""
    validate_name(task_id, name)
    if serialization_function is not None or extension_name:
        return None
    record = ArtifactRecord(task_id=task_id, name=name, metadata=dict(metadata or {}))
    return _with_preview(record, preview) if _save_inline(record, obj, strings_as_paths) else None


def _save_inline(record: ArtifactRecord, obj: Any, strings_as_paths: bool) -> bool:
    if not typed_json.is_candidate(obj):
        return False
    if isinstance(obj, (str, bytes, bytearray)) and len(obj) > INLINE_LIMIT:
        return False  # cannot fit: not worth encoding a large value just to find out
    if serializers.path_of(obj, strings_as_paths=strings_as_paths) is not None:
        return False
    try:
        text = typed_json.dumps(obj)
    except (typed_json.NotJsonValue, RecursionError, ValueError):
        return False
    encoded = text.encode("utf-8", "surrogatepass")
    if len(encoded) > INLINE_LIMIT:
        return False
    is_text = isinstance(obj, str)
    record.type = "str" if is_text else "json"
    record.content_type = "application/json"
    record.inline = text
    record.hash = hashlib.sha256(encoded).hexdigest()
    record.size = len(encoded)
    record.preview = serializers.clip(obj if is_text else text)
    return True


def _with_preview(record: ArtifactRecord, preview: Any) -> ArtifactRecord:
    if preview is not None:
        record.preview = serializers.clip(str(preview))
    return record


_stores: dict[str, ArtifactStore] = {}
_by_root: dict[str, ArtifactStore] = {}  # the same stores by the root as given
_stores_lock = threading.Lock()


def store_for(uri: str | None = None) -> ArtifactStore:
    """The `ArtifactStore` of a root URI (None: `$DUCTWORK_ARTIFACTS_URI` or
    `$DUCTWORK_HOME/artifacts`, read on each call). One store per root, shared."""
    root = uri or settings.artifacts_uri()
    store = _by_root.get(root)  # the usual case: a root asked for before, as it was written
    if store is not None:
        return store
    key = root.rstrip("/") if locations.is_remote(root) else locations.local_path(root)
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = ArtifactStore(root)
        if root.startswith("/") or locations.is_remote(root):  # a relative one depends on the cwd
            _by_root[root] = store
        return store
