"""Where artifact bytes go, and how they come back, for each kind of backend: the one route of
every stored object (artifacts, step inputs and outputs, models, debug images, the pipeline's own).

* Embedded store: the task's `output_uri`, else the default storage.
* A server whose storage this machine reaches (a remote URL, or the same host / a shared
  mount): the task's `output_uri`, else the server's own artifact root.
* A server whose storage this machine cannot reach: the bytes are serialised here into a
  private staging folder, streamed to the server, and streamed back (into a local,
  hash-checked cache) when read.
* A local-mode step asks its controller's backend (over the pipe) where to write; when that is
  a server it cannot reach, it streams the bytes to that server itself (the pipe carries none).

Reads (`load`, `local_copy`, `readable`) decide by the record's own location, so any machine
reads what any other wrote.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, cast

from ductwork.core import settings
from ductwork.core.errors import StorageError, ValidationError
from ductwork.core.records import ArtifactRecord

if TYPE_CHECKING:
    from ductwork.client.contract import Backend

_CHUNK = 1 << 20


@dataclasses.dataclass(frozen=True)
class Route:
    root: str | None  # the storage root to write under (None: the default storage)
    through_server: bool


class ServerStreams(Protocol):
    """What a backend that sends artifact bytes through the server has beyond `Backend`: the
    HTTP transport's streams (a local-mode step's pipe forwards `storage` to its controller's)."""

    def storage(self) -> dict[str, Any]: ...

    def upload_artifact_content(
        self,
        task_id: str,
        name: str,
        data: bytes | Iterator[bytes],
        *,
        extension: str = "",
        root: str | None = None,
    ) -> dict[str, Any]: ...

    def download_artifact_content(self, task_id: str, name: str) -> Iterator[bytes]: ...

    def download_model_content(self, model_id: str) -> Iterator[bytes]: ...


# Streams the stored bytes of one record from the server (`ServerStreams.download_*_content`).
Download = Callable[[ServerStreams], Iterator[bytes]]

_lock = threading.Lock()
_server_storage: dict[int, tuple[Backend, dict[str, Any]]] = {}
_direct: dict[str, ServerStreams] = {}  # a local-mode step's own HTTP backends, by server URL


def route_for(backend: Backend, output_uri: str | None) -> Route:
    probe = getattr(backend, "sends_artifacts_through_server", None)
    if probe is None:
        return Route(output_uri, False)
    if probe(output_uri):
        return Route(None, True)
    return Route(output_uri or _server_root(backend), False)


def _server_root(backend: Backend) -> str:
    """The server's artifact root (asked once per backend)."""
    return str(_server_storage_of(backend)["artifacts_root"])


def _server_storage_of(backend: Backend) -> dict[str, Any]:
    """The server's `/api/storage` answer (asked once per backend)."""
    with _lock:
        known = _server_storage.get(id(backend))
        if known is not None and known[0] is backend:
            return known[1]
    answer = dict(_through_server(backend).storage())
    with _lock:
        _server_storage[id(backend)] = (backend, answer)
    return answer


def _check_output_uri(backend: Backend, output_uri: str) -> None:
    """Refuse, before any byte is written, an `output_uri` the server would not record: its
    artifacts would be written there and then lost at the record (a 422 naming the setting)."""
    from ductwork.artifacts.allowed import LocationRefused, StorageRule
    from ductwork.artifacts.locations import join

    answer = _server_storage_of(backend)
    if "allowed" not in answer:
        return  # a server from before the storage rule records any location
    try:
        rule = StorageRule.build(str(answer["artifacts_root"]), [str(p) for p in answer["allowed"]])
        rule.check(join(output_uri, "blobs"), "output_uri")
    except LocationRefused as exc:
        where = getattr(backend, "url", "the server")
        raise ValidationError(
            f"output_uri {output_uri!r} is not storage the ductwork server at {where} reads, so it would "
            f"refuse every artifact, model and image stored there ({exc}). Use an output_uri under "
            f"the server's storage, or ask its admin to allow this location with "
            f"`ductwork server --allow-storage {output_uri}` (or DUCTWORK_ALLOWED_STORAGE)."
        ) from None


def save(
    backend: Backend, task_id: str, output_uri: str | None, name: str, obj: Any, **options: Any
) -> ArtifactRecord:
    """Serialise `obj` as artifact `name` where `route_for` says; the record is not put anywhere."""
    from ductwork.artifacts.store import ArtifactStore, held_inline, store_for

    held = held_inline(task_id, name, obj, **options)
    if held is not None:  # held in its record: no bytes to route (a debug step's usual result)
        return held
    options["inline"] = False  # asked already
    route = route_for(backend, output_uri)
    if output_uri and not route.through_server and hasattr(backend, "sends_artifacts_through_server"):
        _check_output_uri(backend, output_uri)
    if not route.through_server:
        record: ArtifactRecord = store_for(route.root).save(task_id, name, obj, **options)
        return record
    import shutil
    import tempfile

    staging = tempfile.mkdtemp(prefix="staging-", dir=_cache_folder("staging"))
    try:
        record = ArtifactStore(staging).save(task_id, name, obj, **options)
        if record.inline is None:
            _upload(_streaming(backend), record, output_uri)
        return record
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _upload(server: ServerStreams, record: ArtifactRecord, root: str | None) -> None:
    """Stream a staged blob to the server, which stores it under `root` (the task's
    `output_uri`: never anywhere else) or, without one, its own storage."""
    path = record.uri
    extension = _extension(path)

    def chunks() -> Iterator[bytes]:
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                yield chunk

    answer = server.upload_artifact_content(
        record.task_id, record.name, chunks(), extension=extension, root=root
    )
    if answer["hash"] != record.hash or answer["size"] != record.size:
        raise StorageError(
            f"artifact {record.name!r} of task {record.task_id}: the server stored {answer['size']} bytes "
            f"with sha256 {answer['hash']}, expected {record.size} bytes with sha256 {record.hash}"
        )
    record.uri = str(answer["uri"])


def readable(
    backend: Backend | None,
    record: ArtifactRecord,
    *,
    download: Download | None = None,
) -> ArtifactRecord:
    """`record`, or a copy pointing at a local, hash-checked download when this machine cannot
    reach where its bytes are stored (the server's own storage, seen from another machine).

    Decided by the record's own location, not the reader's `output_uri`: a step reads its
    inputs wherever their producer wrote them. `download(server)` streams the bytes from an
    HTTP backend (default: the task artifact's; model weights pass their own)."""
    if backend is None or record.inline is not None or not record.uri or not record.hash:
        return record  # nothing stored, or a location registered as is (no hash to check it by)
    if not route_for(backend, record.uri).through_server:
        return record
    target = os.path.join(_cache_folder("server"), record.hash + _extension(record.uri))
    if not (os.path.exists(target) and os.path.getsize(target) == record.size):
        server = _streaming(backend)
        if download is None:
            chunks = partial(server.download_artifact_content, record.task_id, record.name)
        else:
            chunks = partial(download, server)
        _download(chunks, record, target)
    return dataclasses.replace(record, uri=target)


def load(
    backend: Backend | None,
    record: ArtifactRecord,
    *,
    deserialization_function: Callable[[bytes], Any] | None = None,
) -> Any:
    """The stored value of `record`, wherever this machine stands (`readable`)."""
    from ductwork.artifacts.store import store_for

    # Any store reads any record: blob URIs are absolute.
    return store_for(None).load(readable(backend, record), deserialization_function=deserialization_function)


def local_copy(
    backend: Backend | None,
    record: ArtifactRecord,
    *,
    download: Download | None = None,
    **options: Any,
) -> str:
    """A local path of `record`'s bytes (see `ArtifactStore.local_copy`), wherever this
    machine stands (`readable`)."""
    from ductwork.artifacts.store import store_for

    path: str = store_for(None).local_copy(readable(backend, record, download=download), **options)
    return path


def _through_server(backend: Backend) -> ServerStreams:
    # Only a backend that says it sends artifacts through the server (`route_for`) comes here.
    return cast("ServerStreams", backend)


def _streaming(backend: Backend) -> ServerStreams:
    """The backend that carries artifact bytes to and from the server: `backend` itself, except
    in a local-mode step, whose pipe to its controller carries no streams: then its own
    connection to the same server, from the environment it shares with its controller."""
    from ductwork.client.pipe import PipeBackend

    if not isinstance(backend, PipeBackend):
        return _through_server(backend)
    url = settings.api_url()
    if not url:
        raise StorageError(
            "this local-mode step must send artifact bytes through the ductwork server (this machine "
            "cannot reach its storage), but DUCTWORK_API_URL is not set in its environment"
        )
    with _lock:
        known = _direct.get(url)
        if known is None:
            from ductwork.client.http import HttpBackend

            known = _direct[url] = HttpBackend(url, settings.api_key())
    return known


def _download(download: Callable[[], Iterator[bytes]], record: ArtifactRecord, target: str) -> None:
    import hashlib

    digest, size = hashlib.sha256(), 0
    staging = f"{target}.{os.getpid()}.{threading.get_ident()}.part"
    try:
        with open(staging, "wb") as out:
            for chunk in download():
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
        if digest.hexdigest() != record.hash or size != record.size:
            raise StorageError(
                f"artifact {record.name!r} of task {record.task_id}: the server sent {size} bytes "
                f"with sha256 {digest.hexdigest()}, expected {record.size} bytes with sha256 {record.hash}"
            )
        os.replace(staging, target)
    except OSError as exc:
        raise StorageError(
            f"artifact {record.name!r} of task {record.task_id}: cannot cache it: {exc}"
        ) from exc
    finally:
        if os.path.exists(staging):
            os.unlink(staging)


def _extension(uri: str) -> str:
    """The extension of a content-addressed blob name `<sha256><ext>` (".npy", ".csv.gz"...)."""
    base = os.path.basename(uri.rstrip("/"))
    return base[64:] if len(base) > 64 else os.path.splitext(base)[1]


def _cache_folder(kind: str) -> str:
    folder = os.path.join(settings.home(), "cache", kind)
    os.makedirs(folder, exist_ok=True)
    return folder
