"""The HTTP transport: every `Backend` method as one call to a `ductwork server`.

Keep-alive connections (one per thread, `ductwork.client.wire`, standard library only, so a
step process starts fast) make a call cost one round trip. Error answers carry
`{"error": <exception name>, "message": ...}`; they come back as the same exceptions the
embedded store raises, so SDK code cannot tell the transports apart.

    wire.py     connections, requests, streamed bodies
    calls.py    one call: retries while the server is away, error answers as exceptions
    content.py  artifact and model bytes through the server
    http.py     `HttpBackend`: the `Backend` methods, resource by resource
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from ductwork.client.calls import AuthError, check_json, conflict_is_done, quote, record, records
from ductwork.client.content import ContentTransfer
from ductwork.core import errors
from ductwork.core.queries import EventQuery, TaskQuery
from ductwork.core.records import (
    ArtifactRecord,
    ConfigObject,
    ConsoleLine,
    MetricEvent,
    ModelRecord,
    NodeState,
    Param,
    Project,
    Queue,
    QueueEntry,
    TaskModel,
    TaskRecord,
    Worker,
    to_dict,
)

__all__ = ["AuthError", "HttpBackend", "Identity", "StartedRun"]


class StartedRun(TypedDict):
    """The answer of NEW RUN (`services.runs.Started`)."""

    id: str
    name: str
    queue: str
    listening: bool  # some live agent serves the queue
    warning: str  # how to start one, when none does


class Identity(TypedDict):
    """The answer of `whoami`."""

    name: str
    admin: bool
    role: str


# Metric events and console lines per request: a backlog (after an outage) goes as requests a
# server answers well within a timeout, not one request that times out and is sent again.
_CHUNK = 5000


class HttpBackend(ContentTransfer):
    """A `Backend` over a ductwork server at `url`, authenticated by `api_key`."""

    # -- projects ----------------------------------------------------------------------------

    def ensure_project(self, name: str, system_tags: Sequence[str] = ()) -> Project:
        data = self._call(
            "POST", "/api/projects", json={"name": name, "system_tags": list(system_tags)}, repeat=True
        )
        return record(Project, data)

    def get_project(self, project_id: str) -> Project:
        return record(Project, self._call("GET", f"/api/projects/{project_id}"))

    def find_project(self, name: str) -> Project | None:
        found = self._call("GET", "/api/projects", params={"name": name})
        return record(Project, found[0]) if found else None

    def list_projects(self) -> list[Project]:
        return records(Project, self._call("GET", "/api/projects"))

    # -- tasks -------------------------------------------------------------------------------

    def create_task(self, task: TaskRecord) -> TaskRecord:
        # The id is ours: a repeat after a lost answer finds the task the first attempt made.
        def made(error: errors.DuctworkError) -> Any:
            if not isinstance(error, errors.Conflict):
                raise error
            return self._call("GET", f"/api/tasks/{task.id}")

        return record(
            TaskRecord, self._call("POST", "/api/tasks", json=to_dict(task), repeat=True, settle=made)
        )

    def get_task(self, task_id: str) -> TaskRecord:
        return record(TaskRecord, self._call("GET", f"/api/tasks/{task_id}"))

    def get_tasks(self, task_ids: Sequence[str]) -> list[TaskRecord]:
        return records(
            TaskRecord, self._call("POST", "/api/tasks/get", json={"ids": list(task_ids)}, repeat=True)
        )

    def query_tasks(self, query: TaskQuery) -> list[TaskRecord]:
        return records(
            TaskRecord, self._call("POST", "/api/tasks/query", json=dataclasses.asdict(query), repeat=True)
        )

    def count_tasks(self, query: TaskQuery) -> int:
        return int(self._call("POST", "/api/tasks/count", json=dataclasses.asdict(query), repeat=True))

    def edit_task(self, task_id: str, changes: Mapping[str, object]) -> TaskRecord:
        return record(TaskRecord, self._call("PATCH", f"/api/tasks/{task_id}", json=changes))

    def set_status(
        self,
        task_id: str,
        status: str,
        *,
        message: str = "",
        reason: str = "",
        force: bool = False,
        expect: Sequence[str] | None = None,
    ) -> TaskRecord:
        body = {
            "status": str(status),
            "message": message,
            "reason": reason,
            "force": force,
            "expect": None if expect is None else [str(s) for s in expect],
        }

        def reached(error: errors.DuctworkError) -> Any:
            # A repeat refused (already there, or `expect` no longer holds) after a lost answer:
            # the first attempt did it when the task now has the status asked for.
            current = self._call("GET", f"/api/tasks/{task_id}")
            if not isinstance(error, (errors.Conflict, errors.StatusError)) or current["status"] != str(
                status
            ):
                raise error
            return current

        return record(
            TaskRecord,
            self._call("POST", f"/api/tasks/{task_id}/status", json=body, repeat=True, settle=reached),
        )

    def reset_task(self, task_id: str) -> TaskRecord:
        return record(TaskRecord, self._call("POST", f"/api/tasks/{task_id}/reset", repeat=True))

    def delete_task(self, task_id: str) -> None:
        self._call("DELETE", f"/api/tasks/{task_id}")

    def clone_task(
        self, task_id: str, *, name: str | None = None, project: str | None = None, parent: str | None = None
    ) -> TaskRecord:
        body = {"name": name, "project": project, "parent": parent}
        return record(TaskRecord, self._call("POST", f"/api/tasks/{task_id}/clone", json=body))

    # -- parameters and configuration --------------------------------------------------------

    def set_parameters(self, task_id: str, params: dict[str, Param], *, replace: bool = False) -> None:
        encoded = {}
        for key, param in params.items():
            if not isinstance(param, Param):
                raise errors.ValidationError(
                    f"task {task_id}: parameter {key!r} must be a Param, got {type(param).__name__}"
                )
            check_json(param.value, f"task {task_id}: parameter {key!r} of type {type(param.value).__name__}")
            encoded[key] = to_dict(param)
        self._call("PUT", f"/api/tasks/{task_id}/parameters", json={"params": encoded, "replace": replace})

    def get_parameters(self, task_id: str) -> dict[str, Param]:
        data = self._call("GET", f"/api/tasks/{task_id}/parameters")
        return {key: record(Param, value) for key, value in data.items()}

    def set_configuration(self, task_id: str, name: str, config: ConfigObject) -> None:
        if not isinstance(config, ConfigObject) or not isinstance(config.text, str):
            raise errors.ValidationError(
                f"task {task_id}: configuration {name!r} must be a ConfigObject with text"
            )
        self._call("PUT", f"/api/tasks/{task_id}/configuration", json={"name": name, **to_dict(config)})

    def get_configurations(self, task_id: str) -> dict[str, ConfigObject]:
        data = self._call("GET", f"/api/tasks/{task_id}/configuration")
        return {key: record(ConfigObject, value) for key, value in data.items()}

    # -- artifacts and models ----------------------------------------------------------------

    def put_artifact(self, artifact: ArtifactRecord) -> None:
        self._call("PUT", f"/api/tasks/{artifact.task_id}/artifacts", json=to_dict(artifact))

    def get_artifacts(self, task_id: str) -> list[ArtifactRecord]:
        return records(ArtifactRecord, self._call("GET", f"/api/tasks/{task_id}/artifacts"))

    def delete_artifact(self, task_id: str, name: str) -> None:
        self._call("DELETE", f"/api/tasks/{task_id}/artifacts/{quote(name)}")

    def put_model(self, model: ModelRecord) -> ModelRecord:
        return record(ModelRecord, self._call("POST", "/api/models", json=to_dict(model), repeat=True))

    def get_model(self, model_id: str) -> ModelRecord:
        return record(ModelRecord, self._call("GET", f"/api/models/{model_id}"))

    def query_models(
        self, *, project: str | None = None, name: str | None = None, tags: Sequence[str] | None = None
    ) -> list[ModelRecord]:
        body = {"project": project, "name": name, "tags": None if tags is None else list(tags)}
        return records(ModelRecord, self._call("POST", "/api/models/query", json=body, repeat=True))

    def attach_model(self, link: TaskModel) -> None:
        self._call(
            "POST",
            f"/api/tasks/{link.task_id}/models",
            json=to_dict(link),
            repeat=True,
            settle=conflict_is_done,
        )

    def rename_model_link(self, link: TaskModel, name: str) -> None:
        body = {"link": to_dict(link), "name": name}
        # Repeatable: the store answers a rename it already did as done.
        self._call("POST", f"/api/tasks/{link.task_id}/models/rename", json=body, repeat=True)

    def get_task_models(self, task_id: str) -> list[TaskModel]:
        return records(TaskModel, self._call("GET", f"/api/tasks/{task_id}/models"))

    # -- metrics and console -----------------------------------------------------------------

    def add_events(self, events: Sequence[MetricEvent]) -> None:
        if events:
            # Repeated after a lost answer: a point stored twice (same iteration and value)
            # beats a point acknowledged to nobody and lost.
            for start in range(0, len(events), _CHUNK):
                chunk = [to_dict(e) for e in events[start : start + _CHUNK]]
                self._call("POST", "/api/metrics", json=chunk, repeat=True)

    def get_events(self, query: EventQuery) -> list[MetricEvent]:
        return records(
            MetricEvent, self._call("POST", "/api/metrics/query", json=dataclasses.asdict(query), repeat=True)
        )

    def add_console(self, lines: Sequence[ConsoleLine]) -> None:
        if lines:
            for start in range(0, len(lines), _CHUNK):
                chunk = [to_dict(line) for line in lines[start : start + _CHUNK]]
                self._call("POST", "/api/console", json=chunk, repeat=True)

    def get_console(self, task_id: str, *, after: int = 0, limit: int | None = None) -> list[ConsoleLine]:
        params: dict[str, Any] = {"after": after}
        if limit is not None:
            params["limit"] = limit
        return records(ConsoleLine, self._call("GET", f"/api/tasks/{task_id}/console", params=params))

    # -- caching -----------------------------------------------------------------------------

    def find_cached(self, cache_key: str) -> TaskRecord | None:
        data = self._call("GET", "/api/cache", params={"key": cache_key})
        return None if data is None else record(TaskRecord, data)

    # -- pipeline runs -----------------------------------------------------------------------

    def put_nodes(self, nodes: Sequence[NodeState]) -> None:
        if nodes:
            self._call("POST", "/api/nodes", json=[to_dict(n) for n in nodes], repeat=True)

    def get_nodes(self, run_id: str) -> list[NodeState]:
        return records(NodeState, self._call("GET", f"/api/runs/{run_id}/nodes"))

    # -- queues and workers ------------------------------------------------------------------

    def ensure_queue(self, name: str, *, user: str = "") -> Queue:
        # `user` is not sent: the server records the key's owner, whoever the caller names.
        return record(Queue, self._call("POST", "/api/queues", json={"name": name}, repeat=True))

    def get_queue(self, name: str) -> Queue:
        return record(Queue, self._call("GET", f"/api/queues/{quote(name)}"))

    def list_queues(self) -> list[Queue]:
        return records(Queue, self._call("GET", "/api/queues"))

    def delete_queue(self, name: str) -> None:
        self._call("DELETE", f"/api/queues/{quote(name)}")

    def enqueue(self, task_id: str, queue: str, *, priority: int = 0) -> QueueEntry:
        body = {"task_id": task_id, "priority": priority}

        def queued(error: errors.DuctworkError) -> Any:
            for entry in self._call("GET", f"/api/queues/{quote(queue)}/entries"):
                if entry.get("task_id") == task_id:
                    return entry
            raise error

        return record(
            QueueEntry,
            self._call("POST", f"/api/queues/{quote(queue)}/entries", json=body, repeat=True, settle=queued),
        )

    def enqueue_many(self, task_ids: Sequence[str], queue: str, *, priority: int = 0) -> list[QueueEntry]:
        """Every task on `queue` in one call and one transaction (all or none; ClearML's
        `tasks.enqueue_many`); at most 1,000 ids a call."""
        body = {"queue": queue, "task_ids": list(task_ids), "priority": priority}

        def queued(error: errors.DuctworkError) -> Any:
            waiting = {e.get("task_id"): e for e in self._call("GET", f"/api/queues/{quote(queue)}/entries")}
            if all(task_id in waiting for task_id in task_ids):
                return [waiting[task_id] for task_id in task_ids]
            raise error

        return records(QueueEntry, self._call("POST", "/api/entries", json=body, repeat=True, settle=queued))

    def dequeue(self, task_id: str) -> None:
        def gone(error: errors.DuctworkError) -> Any:
            if self._call("GET", f"/api/tasks/{task_id}")["status"] == "queued":
                raise error
            return None

        self._call("POST", f"/api/tasks/{task_id}/dequeue", repeat=True, settle=gone)

    def queue_entries(self, queue: str) -> list[QueueEntry]:
        return records(QueueEntry, self._call("GET", f"/api/queues/{quote(queue)}/entries"))

    def claim(
        self, queues: Sequence[str], worker: str, *, end: Mapping[str, Any] | None = None
    ) -> TaskRecord | None:
        return self.wait_claim(queues, worker, wait=0.0, end=end)

    def wait_claim(
        self, queues: Sequence[str], worker: str, *, wait: float, end: Mapping[str, Any] | None = None
    ) -> TaskRecord | None:
        """Like `claim`, but the server holds the call up to `wait` seconds until work arrives
        (a long poll woken by the enqueue itself, so an idle agent learns of new work at once).
        `end`: the worker's previous run's end (`end_claim`'s arguments), recorded first."""
        body: dict[str, Any] = {"queues": list(queues), "worker": worker, "wait": wait}
        if end is not None:
            if not isinstance(end, Mapping):  # refused here as the server would refuse it
                raise errors.ValidationError(f"a claim's end must be a mapping, got {type(end).__name__}")
            body["end"] = {**end, "console": [to_dict(line) for line in end.get("console", ())]}
        data = self._call("POST", "/api/claims", json=body, timeout=wait + 30.0)
        return None if data is None else record(TaskRecord, data)

    def end_claim(
        self,
        task_id: str,
        worker: str,
        started: float,
        status: str,
        *,
        message: str = "",
        reason: str = "",
        console: Sequence[ConsoleLine] = (),
    ) -> str | None:
        """A claimed run's end in one call: its last console lines, its final status (only over
        the same claim), its worker idle. None when the status was recorded, else what the task
        is instead ("taken": another claim's run). Repeated after a lost answer, as console
        lines are: a line stored twice beats a line lost."""
        body = {
            "task_id": task_id,
            "worker": worker,
            "started": started,
            "status": status,
            "message": message,
            "reason": reason,
            "console": [to_dict(line) for line in console],
        }
        instead: str | None = self._call("POST", "/api/claims/end", json=body, repeat=True)["instead"]
        return instead

    def register_worker(self, worker: Worker) -> None:
        self._call("POST", "/api/workers", json=to_dict(worker), repeat=True)

    def heartbeat(self, worker_id: str, task_id: str | None) -> None:
        self._call("POST", f"/api/workers/{worker_id}/heartbeat", json={"task_id": task_id}, repeat=True)

    def unregister_worker(self, worker_id: str) -> None:
        self._call("DELETE", f"/api/workers/{worker_id}")

    def list_workers(self) -> list[Worker]:
        return records(Worker, self._call("GET", "/api/workers"))

    # -- runs (server-side services) ---------------------------------------------------------

    def new_run(self, run_id: str, args: Mapping[str, object], queue: str | None = None) -> StartedRun:
        """Clone run `run_id` with new `Args`, enqueue it (see `StartedRun`)."""
        result: StartedRun = self._call(
            "POST", f"/api/runs/{run_id}/new", json={"args": args, "queue": queue}
        )
        return result

    def abort_run(self, run_id: str) -> list[str]:
        """Stop the run's controller and its unfinished steps; answers the stopped task ids."""
        return list(self._call("POST", f"/api/runs/{run_id}/abort", repeat=True)["stopped"])

    def abort_task(self, task_id: str) -> TaskRecord:
        """Stop one task (queued: leaves its queue; running: its agent kills it)."""

        def stopped(error: errors.DuctworkError) -> Any:
            current = self._call("GET", f"/api/tasks/{task_id}")
            if current["status"] != "stopped":
                raise error
            return current

        return record(
            TaskRecord, self._call("POST", f"/api/tasks/{task_id}/abort", repeat=True, settle=stopped)
        )

    def whoami(self) -> Identity:
        """Who the API key belongs to."""
        result: Identity = self._call("GET", "/api/whoami")
        return result

    def close(self) -> None:
        self._wire.close()
