"""Artifact bytes through the server, for clients that cannot reach its storage.

Uploads become content-addressed blobs under the task's `output_uri` (when the storage rule
allows it) or the server's artifact root, local or object storage alike, written with the
server's own credentials (a local one to a temporary file and renamed, a remote one in a
single put, so a half-sent upload is never visible); the client then records the artifact
with the returned URI. Downloads stream a recorded artifact's bytes;
a stored location is read only where `services.locations` allows (the artifact root and the
admin's allowed prefixes), so a record cannot be used to read arbitrary files of the server
or make it fetch an arbitrary address.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

from ductwork.artifacts.allowed import LocationRefused
from ductwork.artifacts.blobs import Blob, BlobWriter, HashingSink, LocalBlobs, RemoteBlobs
from ductwork.artifacts.locations import is_remote, join
from ductwork.artifacts.names import validate_name
from ductwork.core.errors import NotFound, StorageError, ValidationError
from ductwork.core.records import ArtifactRecord, ModelRecord
from ductwork.server.services import locations
from ductwork.server.services.hub import Hub

if TYPE_CHECKING:
    from _typeshed import SupportsRead

CHUNK = 1 << 20


def save_upload(
    hub: Hub,
    task_id: str,
    name: str,
    extension: str,
    body: SupportsRead[bytes],
    writer: BlobWriter | None = None,
) -> Blob:
    """Store the bytes of `body` as a blob of task `task_id`'s artifact `name`, with `writer`
    (`blob_writer`: under the task's `output_uri`) or under the artifact root."""
    validate_name(task_id, name)
    hub.store.get_task(task_id)  # unknown task: 404 before anything is written
    if extension and (not extension.startswith(".") or "/" in extension or len(extension) > 16):
        raise ValidationError(f"extension must look like '.npy', got {extension!r}")
    writer = writer or blob_writer(hub, None)

    def fill(sink: HashingSink) -> None:
        shutil.copyfileobj(body, sink, CHUNK)

    try:
        return writer.write(extension, fill)
    except StorageError as exc:
        raise StorageError(f"artifact {name!r} of task {task_id}: {exc}") from exc


def blob_writer(hub: Hub, root: str | None) -> BlobWriter:
    """Where new blobs go: `root` when the storage rule allows its blobs (refused: 422 naming
    the output_uri and the setting), else the artifact root."""
    target = root or hub.artifacts_root
    if root:
        try:
            hub.storage.check(join(root, "blobs"), "output_uri")
        except LocationRefused as exc:
            raise LocationRefused(
                f"output_uri {root!r}: this server stores a task's artifacts only where it reads "
                f"them, and {exc}"
            ) from None
    if not is_remote(target):
        return LocalBlobs(target)
    try:
        return RemoteBlobs(target)
    except ImportError as exc:
        raise StorageError(f"this server cannot write to {target}: {exc.name} is not installed") from exc


def open_download(hub: Hub, task_id: str, name: str) -> tuple[ArtifactRecord, locations.StoredFile]:
    """The artifact record and its stored bytes, opened."""
    artifacts: list[ArtifactRecord] = hub.store.get_artifacts(task_id)
    record = next((a for a in artifacts if a.name == name), None)
    if record is None:
        raise NotFound(f"task {task_id} has no artifact {name!r}")
    if record.inline is not None and not record.uri:
        return record, locations.inline_file(record.inline.encode())
    if not record.uri:
        raise NotFound(f"artifact {name!r} of task {task_id} has no stored bytes")
    return record, locations.open_file(hub.storage, record.uri, f"artifact {name!r} of task {task_id}")


def open_model_download(hub: Hub, model_id: str) -> tuple[ModelRecord, locations.StoredFile]:
    """A model record and its stored weights, opened."""
    model: ModelRecord = hub.store.get_model(model_id)
    if not model.uri:
        raise NotFound(f"model {model_id} has no stored weights")
    return model, locations.open_file(hub.storage, model.uri, f"weights of model {model_id}")
