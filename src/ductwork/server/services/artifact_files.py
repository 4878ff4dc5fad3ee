"""Artifact bytes through the server, for clients that cannot reach its storage.

Uploads become content-addressed blobs under the server's artifact root (written to a
temporary file and renamed, so a half-sent upload is never visible); the client then
records the artifact with the returned URI. Downloads stream a recorded artifact's bytes;
a local URI is served only from inside the artifact root, so a record cannot be used to
read arbitrary files of the server.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import IO, Any

from ductwork.artifacts.blobs import Blob, LocalBlobs
from ductwork.artifacts.locations import is_remote, local_path
from ductwork.artifacts.names import validate_name
from ductwork.core.errors import NotFound, ValidationError
from ductwork.core.records import ArtifactRecord
from ductwork.server.services.hub import Hub

CHUNK = 1 << 20


def save_upload(hub: Hub, task_id: str, name: str, extension: str, body: IO[bytes]) -> Blob:
    """Store the bytes of `body` as a blob of task `task_id`'s artifact `name`."""
    validate_name(task_id, name)
    hub.store.get_task(task_id)  # unknown task: 404 before anything is written
    if extension and (not extension.startswith(".") or "/" in extension or len(extension) > 16):
        raise ValidationError(f"extension must look like '.npy', got {extension!r}")
    if is_remote(hub.artifacts_root):
        raise ValidationError("this server stores artifacts remotely; write them to its output_uri directly")
    return LocalBlobs(hub.artifacts_root).write(extension, lambda sink: shutil.copyfileobj(body, sink, CHUNK))


def open_download(hub: Hub, task_id: str, name: str) -> tuple[ArtifactRecord, Iterator[bytes]]:
    """The artifact record and an iterator over its stored bytes."""
    artifacts: list[ArtifactRecord] = hub.store.get_artifacts(task_id)
    record = next((a for a in artifacts if a.name == name), None)
    if record is None:
        raise NotFound(f"task {task_id} has no artifact {name!r}")
    if record.inline is not None and not record.uri:
        data = record.inline.encode()
        return record, iter([data])
    if not record.uri:
        raise NotFound(f"artifact {name!r} of task {task_id} has no stored bytes")
    if is_remote(record.uri):
        return record, _remote_chunks(record.uri)
    path = os.path.realpath(local_path(record.uri))
    root = os.path.realpath(local_path(hub.artifacts_root))
    if os.path.commonpath([path, root]) != root:
        raise NotFound(f"artifact {name!r} of task {task_id} is stored outside this server's artifact root")
    if not os.path.isfile(path):
        raise NotFound(f"the stored file of artifact {name!r} of task {task_id} is missing")
    return record, _file_chunks(path)


def _file_chunks(path: str) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def _remote_chunks(uri: str) -> Iterator[bytes]:
    import fsspec

    handle: Any
    with fsspec.open(uri, "rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk
