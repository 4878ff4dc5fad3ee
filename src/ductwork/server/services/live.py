"""Live status for one run or task, as Server-Sent Events.

A stream first sends the current state (every watched task and node), then only what
changed. Both come from the hub's live feed (`feed.py`), which is told of every change
(this server's writes at once, other processes' by data_version or NOTIFY) and hands each
stream the changed rows it follows: a stream itself never queries the store.

Events: `task` (id, name, status, status_message, parent, started, ended, worker, type),
`node` (a NodeState), `updated` (id, updated: a followed task was written without a change
to those fields: new console lines, metrics, artifacts; the console panel reads on at once)
and a `: keep-alive` comment every `KEEPALIVE_S` so proxies keep it open.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ductwork.server.services.feed import Batch, Row
from ductwork.server.services.hub import Hub
from ductwork.store.notify import NODE_COLUMNS

KEEPALIVE_S = 15.0
TASK_FIELDS = ("id", "name", "status", "status_message", "parent", "started", "ended", "worker", "type")
NODE_FIELDS = tuple(c for c in NODE_COLUMNS if c != "updated")  # a NodeState's fields


@dataclass
class Watch:
    """What one stream follows and what it last sent."""

    run: str | None = None
    task: str | None = None
    tasks: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # id -> last sent fields
    nodes: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # name -> last sent fields
    updated: dict[str, float] = field(default_factory=dict)  # id -> last `updated` seen


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def stream(hub: Hub, watch: Watch, disconnected: Callable[[], Awaitable[bool]]) -> AsyncIterator[str]:
    """The event stream for `watch`, until the client goes away or the server stops."""
    inbox = hub.feed.subscribe(watch.run, watch.task)
    try:
        while not hub.closing:
            batch = await inbox.take(KEEPALIVE_S)
            if hub.closing or await disconnected():
                return
            if batch is None:
                yield ": keep-alive\n\n"
                continue
            chunks = events(watch, batch)
            if chunks:
                yield "".join(chunks)
    finally:
        hub.feed.unsubscribe(inbox)


def events(watch: Watch, batch: Batch) -> list[str]:
    """The events for what changed in `batch`, leaving out what the client already has."""
    chunks = [c for row in batch.tasks.values() if (c := _task_event(watch, row))]
    if watch.run and watch.run in batch.nodes:
        chunks.extend(c for row in batch.nodes[watch.run].values() if (c := _node_event(watch, row)))
    return chunks


def _task_event(watch: Watch, row: Row) -> str:
    task_id = row["id"]
    before = watch.updated.get(task_id)
    watch.updated[task_id] = row["updated"]
    data = {name: row[name] for name in TASK_FIELDS}
    key = tuple(data.values())
    if watch.tasks.get(task_id) == key:
        if before is not None and before != row["updated"]:
            return sse("updated", {"id": task_id, "updated": row["updated"]})
        return ""
    watch.tasks[task_id] = key
    return sse("task", data)


def _node_event(watch: Watch, row: Row) -> str:
    data = {name: row[name] for name in NODE_FIELDS}
    key = tuple(data.values())
    if watch.nodes.get(row["name"]) == key:
        return ""
    watch.nodes[row["name"]] = key
    return sse("node", data)
