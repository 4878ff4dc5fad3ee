"""Pipeline runs: live node states, NEW RUN, abort and continue."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from ductwork.core.records import NodeState
from ductwork.server.api.deps import Json, hub, records, user
from ductwork.server.services import deletion, permissions, runs
from ductwork.server.services.hub import Hub
from ductwork.server.services.jsontypes import Checked

router = APIRouter(prefix="/api", tags=["runs"])


@dataclass
class NewRun:
    args: dict[str, Any] = field(default_factory=dict)  # pipeline argument name -> value
    queue: str | None = None  # default: the run's last queue, else "services"


@dataclass
class ContinueRun:
    queue: str | None = None


@router.post("/nodes", status_code=204)
async def put_nodes(nodes: Checked[list[NodeState]], request: Request, h: Hub = Depends(hub)) -> None:
    caller = user(request)

    def write() -> None:
        permissions.require_runs(h.store, caller, "write to", (node.run_id for node in nodes))
        h.put_nodes(nodes)

    await run_in_threadpool(write)


@router.get("/runs/{run_id}/nodes", response_model=list[NodeState])
async def get_nodes(run_id: str, h: Hub = Depends(hub)) -> Json:
    return records(await run_in_threadpool(h.store.get_nodes, run_id))


@router.post("/runs/{run_id}/new")
async def new_run(run_id: str, body: Checked[NewRun], request: Request, h: Hub = Depends(hub)) -> Json:
    """Clone the run with new `Args` values (cast to each argument's type) and enqueue it.

    Answers `{id, name, queue, listening, warning}`; `listening` is false when no live agent
    serves the queue (the run then waits, and `warning` says how to start one)."""
    caller = user(request)
    permissions.require(caller, "new run", noun="runs")
    started = await run_in_threadpool(
        lambda: runs.new_run(h, run_id, body.args, queue=body.queue, user=permissions.name_of(caller))
    )
    return Json(started.as_dict())


@router.post("/runs/{run_id}/abort")
async def abort_run(run_id: str, request: Request, h: Hub = Depends(hub)) -> Json:
    """Stop the run's controller and its unfinished steps; answers `{stopped: [task ids]}`."""
    stopped = await run_in_threadpool(lambda: runs.abort_run(h, run_id, caller=user(request)))
    return Json({"stopped": stopped})


@router.post("/runs/{run_id}/continue")
async def continue_run(
    run_id: str, body: Checked[ContinueRun], request: Request, h: Hub = Depends(hub)
) -> Json:
    """Re-enqueue a stopped or failed run; it resumes from the steps that did not complete."""
    caller = user(request)

    def resume() -> runs.Started:
        permissions.require_run(h.store, caller, "continue", run_id)
        return runs.continue_run(h, run_id, queue=body.queue)

    started = await run_in_threadpool(resume)
    return Json(started.as_dict())


@router.delete("/runs/{run_id}")
async def delete_run(run_id: str, request: Request, h: Hub = Depends(hub)) -> Json:
    """Delete the run and every task below it (their metrics, console, artifact records, output
    models, node states); its owner or an admin, and not while it runs. Answers `{deleted: [ids]}`."""
    deleted = await run_in_threadpool(lambda: deletion.delete_run(h, run_id, caller=user(request)))
    return Json({"deleted": deleted})
