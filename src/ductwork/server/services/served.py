"""Stored bytes handed to a browser can never run: the server chooses every file's type.

A client records an artifact's `content_type` and names its file; both are the client's word,
so neither reaches the response. A file is sent as a download (`Content-Disposition:
attachment`) with one of a few inert types: a raster image (PNG, JPEG, GIF, WebP), audio or
video recognised by its first bytes, JSON or plain text by its name, anything else
`application/octet-stream`. Only a recognised raster image, audio or video may be shown inline
(a page's `<img>`, `<audio>`, `<video>`); HTML, SVG and the like never are, whatever the
request asks. Every file response also says `nosniff` (the browser
keeps the type we chose) and carries a sandboxing CSP (were it ever rendered as a document, it
would get an opaque origin, no script and no subresources).

Downloads honour one `Range` (`services.byteranges`): 206 with `Content-Range`, 416 beyond the
file; the type is still chosen by the file's first bytes, whatever part is sent. A file whose
content hash is known carries it as its ETag, which `If-Range` must name to resume it.
"""

from __future__ import annotations

from itertools import chain
from urllib.parse import quote

from starlette.responses import JSONResponse, Response, StreamingResponse

from ductwork.server.services.byteranges import Asked, Unsatisfiable
from ductwork.server.services.locations import StoredFile

WHOLE = Asked()

FILE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # Rendered as a document anyway, it would run nothing, load nothing and sit in no frame.
    "Content-Security-Policy": "sandbox; default-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'",
    "Cross-Origin-Resource-Policy": "same-origin",
}

OCTETS = "application/octet-stream"
TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
TEXT_SUFFIXES = frozenset({"txt", "log", "csv", "tsv", "md", "yaml", "yml", "py", "toml", "ini", "cfg"})


def raster_type(head: bytes) -> str | None:
    """The image type of bytes that start like a PNG, JPEG, GIF or WebP file, else None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if len(head) >= 12 and head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def playable_type(head: bytes) -> str | None:
    """The audio or video type of bytes that start like a WAV, MP3, Ogg, FLAC, MP4 or WebM
    file, else None: what a page's `<audio>` / `<video>` plays (a browser never runs them)."""
    if len(head) >= 12 and head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return "audio/wav"
    if head.startswith(b"ID3") or head[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "audio/mpeg"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "audio/mp4" if head[8:12] == b"M4A " else "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    return None


def inert_type(filename: str, head: bytes) -> str:
    """The type the server sends a file as: raster image, audio or video by content, JSON or
    text by name, else bytes."""
    image = raster_type(head) or playable_type(head)
    if image:
        return image
    suffix = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if suffix == "json":
        return JSON
    if suffix in TEXT_SUFFIXES:
        return TEXT
    return OCTETS


def file_response(
    file: StoredFile,
    filename: str,
    *,
    asked: Asked = WHOLE,
    inline: bool = False,
    etag: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """A download of `file` named `filename`, or the one byte range `asked` (206; 416 when it
    is outside the file); inline only when asked and a raster image, audio or video. The type
    is always the whole file's, by its first bytes, whatever range is sent."""
    try:
        wanted = asked.range_in(file.size, etag)
    except Unsatisfiable as exc:
        file.close()
        return _unsatisfiable(exc)
    if wanted is None:
        chunks = file.chunks()
        head = next(chunks, b"")
        chunks = chain([head], chunks)
    else:
        head = file.head()
        chunks = file.chunks(wanted.first, wanted.length)
    media = inert_type(filename, head)
    disposition = "inline" if inline and media.startswith(("image/", "audio/", "video/")) else "attachment"
    sent = {
        **(headers or {}),
        **FILE_HEADERS,
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(filename, safe='')}",
    }
    if etag:
        sent["ETag"] = etag
    if file.size is not None:
        sent["Accept-Ranges"] = "bytes"
        sent["Content-Length"] = str(file.size if wanted is None else wanted.length)
    if wanted is not None and file.size is not None:
        sent["Content-Range"] = wanted.content_range(file.size)
        return StreamingResponse(chunks, status_code=206, media_type=media, headers=sent)
    return StreamingResponse(chunks, media_type=media, headers=sent)


def _unsatisfiable(exc: Unsatisfiable) -> Response:
    body = {"error": "RangeNotSatisfiable", "message": str(exc)}
    sent = {**FILE_HEADERS, "Content-Range": f"bytes */{exc.size}", "Accept-Ranges": "bytes"}
    return JSONResponse(body, status_code=416, headers=sent)


def strong_etag(sha256: str) -> str | None:
    """A stored file's ETag, its content hash: what `If-Range` must name to resume it."""
    return f'"{sha256}"' if is_sha256(sha256) else None


def download_name(name: str, uri: str, file_name: str = "", inline_json: bool = False) -> str:
    """The name a download is saved as: the original file name, else the artifact's name with
    the stored blob's extension (`.json` for a value stored in the record itself)."""
    if file_name:
        return file_name
    if inline_json:
        return name if name.endswith(".json") else f"{name}.json"
    leaf = uri.rstrip("/").rsplit("/", 1)[-1]
    extension = leaf[leaf.find(".") :] if "." in leaf else ""
    return name if not extension or name.endswith(extension) else name + extension


def is_sha256(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)
