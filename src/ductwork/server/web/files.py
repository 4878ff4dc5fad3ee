"""Bytes the pages hand to the browser: artifact downloads and previews, and image events
(pictures and the media samples of `Logger.report_media`).

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
from ductwork.server.services.byteranges import Asked
from ductwork.server.services.hub import Hub
from ductwork.server.services.views import Plot


def artifact_response(
    hub: Hub, task_id: str, name: str, asked: Asked = served.WHOLE, *, inline: bool = False
) -> Response:
    """The artifact's stored bytes as a download, or the byte range `asked`; `inline` (the
    pages' `<img>` previews) is honoured only for a raster image recognised by its bytes
    (`services.served`)."""
    record, file = artifact_files.open_download(hub, task_id, name)
    filename = served.download_name(record.name, record.uri, record.file_name, record.inline is not None)
    etag = served.strong_etag(record.hash)
    return served.file_response(file, filename, asked=asked, inline=inline, etag=etag)


def image_event_response(hub: Hub, task_id: str, index: int, asked: Asked = served.WHOLE) -> Response:
    """The picture of the task's `index`-th image event (inline only if it is a raster image,
    audio or video), or the byte range `asked` (a `<video>` seeking)."""
    images = hub.store.get_events(EventQuery(task_id, kind="image"))
    if not 0 <= index < len(images):
        raise NotFound(f"task {task_id} has no image {index}")
    uri = image_uri(images[index].payload)
    if not uri or locations.is_link(uri):
        raise NotFound(f"image {index} of task {task_id} is not stored by this server")
    file = locations.open_file(hub.storage, uri, f"image {index} of task {task_id}")
    filename = uri.rstrip("/").rsplit("/", 1)[-1] or f"image-{index}"
    return served.file_response(file, filename, asked=asked, inline=True)


def plot_item(task_id: str, plot: Plot) -> dict[str, Any]:
    """A plot as the plots panel draws it. An image event's payload becomes the address its
    picture loads from, and `media` says which element shows it: `image`, `audio`, `video`, or
    `file` (a link) for any other sample of `Logger.report_media` (HTML included, never shown)."""
    item = {
        "title": plot.title,
        "series": plot.series,
        "iteration": plot.iteration,
        "kind": plot.kind,
        "payload": plot.payload,
    }
    if plot.kind == "image":
        item["payload"] = image_source(task_id, plot.index, plot.payload)
        item["media"] = media_of(plot.payload)
    return item


def media_of(payload: Any) -> str:
    """The element an image event's sample is shown in, by the type its reporter recorded (the
    served bytes are typed by the server, so a wrong word here only fails to play)."""
    recorded = payload.get("content_type") if isinstance(payload, dict) else None
    kind = recorded.split("/", 1)[0] if isinstance(recorded, str) and recorded else "image"
    if kind == "image" and recorded != "image/svg+xml":
        return "image"
    return kind if kind in ("audio", "video") else "file"


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
