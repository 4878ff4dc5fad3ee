"""Bytes the pages hand to the browser: artifact downloads and previews, and image events.

Only what the store lists for a task is ever read, and only where `services.locations`
allows: a URL comes from the task's own record, never from the request. What is sent is a
download with a type the server chose (`services.served`): stored bytes never run as a page.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import Response

from ductwork.core.errors import NotFound
from ductwork.core.queries import EventQuery
from ductwork.server.services import artifact_files, locations, served
from ductwork.server.services.hub import Hub


def artifact_response(hub: Hub, task_id: str, name: str, *, inline: bool = False) -> Response:
    """The artifact's stored bytes as a download; `inline` (the pages' `<img>` previews) is
    honoured only for a raster image recognised by its bytes (`services.served`)."""
    record, chunks, size = artifact_files.open_download(hub, task_id, name)
    filename = served.download_name(record.name, record.uri, record.file_name, record.inline is not None)
    return served.file_response(chunks, filename, inline=inline, size=size)


def image_event_response(hub: Hub, task_id: str, index: int) -> Response:
    """The picture of the task's `index`-th image event (inline only if it is a raster image)."""
    images = hub.store.get_events(EventQuery(task_id, kind="image"))
    if not 0 <= index < len(images):
        raise NotFound(f"task {task_id} has no image {index}")
    uri = image_uri(images[index].payload)
    if not uri or locations.is_link(uri):
        raise NotFound(f"image {index} of task {task_id} is not stored by this server")
    chunks, size = locations.open_chunks(hub.storage, uri, f"image {index} of task {task_id}")
    filename = uri.rstrip("/").rsplit("/", 1)[-1] or f"image-{index}"
    return served.file_response(chunks, filename, inline=True, size=size)


def image_source(task_id: str, index: int, payload: Any) -> str:
    """What an `<img src>` can load: a web or raster data URL as is, a stored file through our
    route (an SVG data URL never: it goes through the route, which refuses it)."""
    uri = image_uri(payload)
    if locations.is_link(uri):
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
