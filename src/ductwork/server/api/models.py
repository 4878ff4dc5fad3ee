"""Models: `POST /api/models` (insert or update), `GET /api/models/{id}`, `POST /api/models/query`.

A new model belongs to its caller (an agent's model of a task: the task's owner); updating
one is for its owner, an admin or an agent, and keeps the owner it has.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from ductwork.core.errors import NotFound
from ductwork.core.records import ModelRecord
from ductwork.server.api.deps import Json, hub, record, records, user
from ductwork.server.services import artifact_files, locations, permissions, served
from ductwork.server.services.byteranges import Asked
from ductwork.server.services.hub import Hub
from ductwork.server.services.jsontypes import Checked

router = APIRouter(prefix="/api/models", tags=["models"])


@dataclass
class ModelQuery:
    project: str | None = None
    name: str | None = None
    tags: list[str] | None = None


@router.post("", response_model=ModelRecord)
async def put_model(model: Checked[ModelRecord], request: Request, h: Hub = Depends(hub)) -> Json:
    locations.check_model(h.storage, model)  # 422 for a location the server would not read
    caller = user(request)

    def put() -> ModelRecord:
        try:
            existing: ModelRecord | None = h.store.get_model(model.id)
        except NotFound:
            existing = None
        if existing is not None:
            permissions.require(caller, "edit", permissions.model(existing))
            model.user = existing.user
        else:
            permissions.require(caller, "create", noun="models")
            model.user = permissions.owner_for(h.store, caller, model.task_id)
        if model.task_id:
            # a model names the task that made it: only a task the caller may write to
            permissions.require_task(h.store, caller, "write to", model.task_id)
        stored: ModelRecord = h.store.put_model(model)
        return stored

    return record(await run_in_threadpool(put))


@router.post("/query", response_model=list[ModelRecord])
async def query_models(query: Checked[ModelQuery], h: Hub = Depends(hub)) -> Json:
    found = await run_in_threadpool(
        lambda: h.store.query_models(project=query.project, name=query.name, tags=query.tags)
    )
    return records(found)


@router.get("/{model_id}", response_model=ModelRecord)
async def get_model(model_id: str, h: Hub = Depends(hub)) -> Json:
    return record(await run_in_threadpool(h.store.get_model, model_id))


@router.get("/{model_id}/content", response_class=StreamingResponse)
async def download_weights(model_id: str, request: Request, h: Hub = Depends(hub)) -> Response:
    """A model's stored weights (for clients that cannot reach the server's storage), or one
    byte range of them (`Range`)."""
    asked = Asked.of(request.headers)  # a malformed Range: 400 before the file is opened

    def respond() -> Response:
        model, file = artifact_files.open_model_download(h, model_id)
        headers = {"X-Content-SHA256": model.hash} if served.is_sha256(model.hash) else {}
        filename = model.uri.rstrip("/").rsplit("/", 1)[-1] or f"model-{model_id}"
        etag = served.strong_etag(model.hash)
        return served.file_response(file, filename, asked=asked, etag=etag, headers=headers)

    return await run_in_threadpool(respond)
