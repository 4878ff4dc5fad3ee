"""Artifact bytes through the server: `PUT|GET /api/tasks/{id}/artifacts/{name}/content`."""

from __future__ import annotations

import tempfile

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from ductwork.server.api.deps import Json, hub, user
from ductwork.server.services import artifact_files, permissions, served
from ductwork.server.services.byteranges import Asked
from ductwork.server.services.hub import Hub

router = APIRouter(prefix="/api/tasks", tags=["artifacts"])

SPOOL_IN_MEMORY = 8 << 20


@router.put("/{task_id}/artifacts/{name:path}/content")
async def upload(
    task_id: str, name: str, request: Request, ext: str = "", root: str = "", h: Hub = Depends(hub)
) -> Json:
    """Store the request body as the bytes of artifact `name`; answers `{uri, hash, size}`.

    `root`: the task's `output_uri` when it names one (storage this server must read: else
    422), for a client that cannot reach it; by default the server's own artifact root. The
    artifact's record is written separately (`PUT /api/tasks/{id}/artifacts`) with that
    URI, so a record never points at bytes that are not fully stored."""
    # Checked before the body is read: a refused caller's (or place's) bytes are never stored.
    await run_in_threadpool(permissions.require_task, h.store, user(request), "write to", task_id)
    writer = await run_in_threadpool(artifact_files.blob_writer, h, root or None)
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
        async for chunk in request.stream():
            spool.write(chunk)
        spool.seek(0)
        blob = await run_in_threadpool(
            artifact_files.save_upload,
            h,
            task_id,
            name,
            ext,
            spool,
            writer,
        )
    return Json({"uri": blob.uri, "hash": blob.hash, "size": blob.size})


@router.get("/{task_id}/artifacts/{name:path}/content", response_class=StreamingResponse)
async def download(task_id: str, name: str, request: Request, h: Hub = Depends(hub)) -> Response:
    """The stored bytes of artifact `name` (as written: .npy, .parquet, .json, .zip, ...), or
    one byte range of them (`Range`, `If-Range` naming the ETag: a download resuming)."""
    asked = Asked.of(request.headers)  # a malformed Range: 400 before the file is opened

    def respond() -> Response:
        record, file = artifact_files.open_download(h, task_id, name)
        # A download with a type the server chose (never the record's), whoever opens the URL.
        headers = {"X-Content-SHA256": record.hash} if served.is_sha256(record.hash) else {}
        filename = served.download_name(record.name, record.uri, record.file_name, record.inline is not None)
        etag = served.strong_etag(record.hash)
        return served.file_response(file, filename, asked=asked, etag=etag, headers=headers)

    return await run_in_threadpool(respond)
