"""Debug samples of any media for `Logger.report_media`: audio, video, HTML, any file.

A sample is read from a file or a stream and goes the way of `report_image`'s pictures (stored
by the task's uploads, then an `image` event naming it), with the content type its extension
says. The type is the reporter's word: a server looks at the bytes before it shows any.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ductwork.core.errors import ValidationError
from ductwork.sdk import images
from ductwork.sdk.reported import require_str

OCTETS = "application/octet-stream"
MEDIA_TYPES = {
    **images.IMAGE_TYPES,
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".flac": "audio/flac",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".webm": "video/webm",
    ".ogv": "video/ogg",
    ".mov": "video/quicktime",
    ".mkv": "video/x-matroska",
    ".avi": "video/x-msvideo",
    ".html": "text/html",
    ".htm": "text/html",
    ".txt": "text/plain",
    ".csv": "text/csv",
    ".json": "application/json",
    ".pdf": "application/pdf",
}


@dataclass(frozen=True)
class Sample:
    """What `report_media` records: stored bytes with their extension, or a URL."""

    content_type: str
    data: bytes = b""
    extension: str = ""
    url: str | None = None


def sample(
    title: str,
    series: str,
    local_path: str | None,
    stream: Any,
    file_extension: str | None,
    max_history: object,
    url: str | None,
) -> Sample:
    """The checked sample `report_media` was given: exactly one of a file, a stream or a URL."""
    require_str("title", title)
    require_str("series", series)
    where = f"report_media({title!r}, {series!r})"
    if max_history is not None and (
        isinstance(max_history, bool) or not isinstance(max_history, int) or max_history < 1
    ):
        raise ValidationError(f"{where}: max_history must be an int >= 1, got {max_history!r}")
    given = [
        name
        for name, value in (("local_path", local_path), ("stream", stream), ("url", url))
        if value is not None
    ]
    if len(given) != 1:
        raise ValidationError(f"{where}: give exactly one of local_path, stream, url (got {given or 'none'})")
    if url is not None:
        require_str("url", url)
        return Sample(content_type(extension_of(url)), url=url)
    data, extension = read(where, local_path, stream, file_extension)
    return Sample(content_type(extension), data, extension)


def content_type(extension: str) -> str:
    return MEDIA_TYPES.get(extension.lower(), OCTETS)


def extension_of(name: str) -> str:
    """The extension of a file name or a URL's path (".wav"), "" when it has none."""
    path = name.split("?", 1)[0].split("#", 1)[0].rsplit("/", 1)[-1]
    return os.path.splitext(path)[1].lower()


def read(where: str, local_path: str | None, stream: Any, file_extension: str | None) -> tuple[bytes, str]:
    """The sample's bytes and extension, from `local_path` or `stream` (bytes or a binary file
    object); `file_extension` ("wav" or ".wav") names a stream's type or overrides the file's."""
    given = None if file_extension is None else _extension(where, file_extension)
    if local_path is not None:
        if not isinstance(local_path, (str, os.PathLike)):
            raise ValidationError(f"{where}: local_path must be a path, got {type(local_path).__name__}")
        try:
            with open(local_path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise ValidationError(f"{where}: cannot read {str(local_path)!r}: {exc.strerror}") from exc
        return data, given or extension_of(os.fspath(local_path))
    if given is None:
        raise ValidationError(f"{where}: a stream needs file_extension (its type, e.g. 'wav')")
    if isinstance(stream, (bytes, bytearray, memoryview)):
        return bytes(stream), given
    return _read_stream(where, stream), given


def _read_stream(where: str, stream: Any) -> bytes:
    read = getattr(stream, "read", None)
    if not callable(read):
        raise ValidationError(
            f"{where}: stream must be bytes or a binary file object, got {type(stream).__name__}"
        )
    data = read()
    if not isinstance(data, (bytes, bytearray)):
        raise ValidationError(f"{where}: stream must be opened in binary mode, it gave {type(data).__name__}")
    return bytes(data)


def _extension(where: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip(".") or "/" in value or "\\" in value:
        raise ValidationError(f"{where}: file_extension must be an extension such as 'wav', got {value!r}")
    return "." + value.strip().lstrip(".").lower()
