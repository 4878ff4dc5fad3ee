"""Bytes the pages hand to the browser: artifact downloads and previews, and image events.

Only what the store lists for a task is ever read, and a local file only from inside the
server's artifact root: a URL comes from the task's own record, never from the request.
"""

from __future__ import annotations

import mimetypes
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from fastapi.responses import Response, StreamingResponse

from ductwork.artifacts.locations import is_remote, local_path
from ductwork.core.errors import NotFound
from ductwork.core.queries import EventQuery
from ductwork.server.services import artifact_files
from ductwork.server.services.hub import Hub

CHUNK = 1 << 20


def artifact_response(hub: Hub, task_id: str, name: str, *, inline: bool = False) -> Response:
    """The artifact's stored bytes, streamed, as a download (or inline, for image previews)."""
    record, chunks = artifact_files.open_download(hub, task_id, name)
    filename = record.file_name or _file_name(record.name, record.uri, record.inline is not None)
    media = record.content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
    disposition = "inline" if inline else "attachment"
    headers = {"Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(filename, safe='')}"}
    if record.size and record.uri:
        headers["Content-Length"] = str(record.size)
    return StreamingResponse(chunks, media_type=media, headers=headers)


def image_event_response(hub: Hub, task_id: str, index: int) -> Response:
    """The picture of the task's `index`-th image event."""
    images = hub.store.get_events(EventQuery(task_id, kind="image"))
    if not 0 <= index < len(images):
        raise NotFound(f"task {task_id} has no image {index}")
    uri = image_uri(images[index].payload)
    if not uri or uri.startswith(("data:", "http://", "https://")):
        raise NotFound(f"image {index} of task {task_id} is not stored by this server")
    media = mimetypes.guess_type(uri)[0] or "image/png"
    return StreamingResponse(_open(hub, uri), media_type=media)


def image_source(task_id: str, index: int, payload: Any) -> str:
    """What an `<img src>` can load: a data or web URL as is, a stored file through our route."""
    uri = image_uri(payload)
    if uri.startswith(("data:image/", "http://", "https://")):
        return uri
    return f"/tasks/{task_id}/images/{index}"


def image_uri(payload: Any) -> str:
    """Where an image event's picture is: the SDK records `{"artifact": {...}}` for pictures it
    stored and `{"url": ...}` for ones that live elsewhere."""
    if isinstance(payload, dict):
        artifact = payload.get("artifact")
        if isinstance(artifact, dict) and isinstance(artifact.get("uri"), str):
            return str(artifact["uri"])
        payload = payload.get("uri") or payload.get("url") or ""
    return payload if isinstance(payload, str) else ""


def _open(hub: Hub, uri: str) -> Iterator[bytes]:
    if is_remote(uri):
        return _remote(uri)
    path = os.path.realpath(local_path(uri))
    root = os.path.realpath(local_path(hub.artifacts_root))
    if os.path.commonpath([path, root]) != root or not os.path.isfile(path):
        raise NotFound(f"image file {uri} is not in this server's artifact storage")
    return _local(path)


def _local(path: str) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def _remote(uri: str) -> Iterator[bytes]:
    import fsspec

    handle: Any
    with fsspec.open(uri, "rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk


def _file_name(name: str, uri: str, inline: bool) -> str:
    if inline:
        return name if name.endswith(".json") else f"{name}.json"
    leaf = uri.rstrip("/").rsplit("/", 1)[-1]
    extension = leaf[leaf.find(".") :] if "." in leaf else ""
    return name if not extension or name.endswith(extension) else name + extension
