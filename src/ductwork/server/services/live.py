"""Live status for one run or task, as Server-Sent Events.

A stream first sends the current state (every watched task and node), then only what
changed. It wakes on the hub's `changes` doorbell (rung by this server's own writes at
once, and by its watcher within a tick for other processes' writes), asks the store which
tasks and runs changed since its cursor (two indexed range scans) and re-reads only those.

Events: `task` (id, name, status, status_message, parent, started, ended, worker), `node`
(a NodeState), and a `: keep-alive` comment every `KEEPALIVE_S` so proxies keep it open.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool

from ductwork.core.queries import TaskQuery
from ductwork.core.records import NodeState, TaskRecord, to_dict
from ductwork.server.services.hub import Hub

KEEPALIVE_S = 15.0
TASK_FIELDS = ("id", "name", "status", "status_message", "parent", "started", "ended", "worker", "type")


@dataclass
class Watch:
    """What one stream follows and what it last sent."""

    run: str | None = None
    task: str | None = None
    tasks: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # id -> last sent fields
    nodes: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # name -> last sent fields

    def follows(self, task: TaskRecord) -> bool:
        return task.id in (self.run, self.task) or (self.run is not None and task.parent == self.run)


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def stream(hub: Hub, watch: Watch, disconnected: Callable[[], Awaitable[bool]]) -> AsyncIterator[str]:
    """The event stream for `watch`, until the client goes away or the server stops."""
    cursor = (await run_in_threadpool(hub.store.changes_since, None)).cursor
    for chunk in await run_in_threadpool(_snapshot, hub, watch):
        yield chunk
    seen = hub.changes.generation
    while not hub.closing:
        rung = await hub.changes.wait(seen, KEEPALIVE_S)
        seen = hub.changes.generation
        if await disconnected() or hub.closing:
            return
        if not rung:
            yield ": keep-alive\n\n"
            continue
        cursor, chunks = await run_in_threadpool(_delta, hub, watch, cursor)
        for chunk in chunks:
            yield chunk


def _snapshot(hub: Hub, watch: Watch) -> list[str]:
    store = hub.store
    tasks: list[TaskRecord] = []
    for task_id in (watch.run, watch.task):
        if task_id:
            tasks.append(store.get_task(task_id))  # NotFound -> 404 before the stream opens
    if watch.run:
        tasks.extend(store.query_tasks(TaskQuery(parent=watch.run, archived=None, order_by="created")))
    chunks = [c for t in tasks if (c := _task_event(watch, t))]
    if watch.run:
        chunks.extend(c for n in store.get_nodes(watch.run) if (c := _node_event(watch, n)))
    return chunks


def _delta(hub: Hub, watch: Watch, cursor: float) -> tuple[float, list[str]]:
    store = hub.store
    changed = store.changes_since(cursor)
    chunks: list[str] = []
    if changed.tasks:
        for task in store.get_tasks(list(changed.tasks)):
            if watch.follows(task) and (chunk := _task_event(watch, task)):
                chunks.append(chunk)
    if watch.run and watch.run in changed.runs:
        chunks.extend(c for n in store.get_nodes(watch.run) if (c := _node_event(watch, n)))
    return changed.cursor, chunks


def _task_event(watch: Watch, task: TaskRecord) -> str:
    data = {name: getattr(task, name) for name in TASK_FIELDS}
    key = tuple(data.values())
    if watch.tasks.get(task.id) == key:
        return ""
    watch.tasks[task.id] = key
    return sse("task", data)


def _node_event(watch: Watch, node: NodeState) -> str:
    data = to_dict(node)
    key = tuple(data.values())
    if watch.nodes.get(node.name) == key:
        return ""
    watch.nodes[node.name] = key
    return sse("node", data)
