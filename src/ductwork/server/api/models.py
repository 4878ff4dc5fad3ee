"""Models: `POST /api/models` (insert or update), `GET /api/models/{id}`, `POST /api/models/query`."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from ductwork.core.records import ModelRecord
from ductwork.server.api.deps import Json, hub, record, records
from ductwork.server.services import locations
from ductwork.server.services.hub import Hub

router = APIRouter(prefix="/api/models", tags=["models"])


@dataclass
class ModelQuery:
    project: str | None = None
    name: str | None = None
    tags: list[str] | None = None


@router.post("", response_model=ModelRecord)
async def put_model(model: ModelRecord, h: Hub = Depends(hub)) -> Json:
    locations.check_model(h.storage, model)  # 422 for a location the server would not read
    return record(await run_in_threadpool(h.store.put_model, model))


@router.post("/query", response_model=list[ModelRecord])
async def query_models(query: ModelQuery, h: Hub = Depends(hub)) -> Json:
    found = await run_in_threadpool(
        lambda: h.store.query_models(project=query.project, name=query.name, tags=query.tags)
    )
    return records(found)


@router.get("/{model_id}", response_model=ModelRecord)
async def get_model(model_id: str, h: Hub = Depends(hub)) -> Json:
    return record(await run_in_threadpool(h.store.get_model, model_id))
