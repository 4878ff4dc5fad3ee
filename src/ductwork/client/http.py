"""The HTTP transport: every `Backend` method as one call to a `ductwork server`.

Keep-alive connections (one per thread, `ductwork.client.wire`, standard library only, so a
step process starts fast) make a call cost one round trip. Error answers carry
`{"error": <exception name>, "message": ...}`; they come back as the same exceptions the
embedded store raises, so SDK code cannot tell the transports apart.
"""

from __future__ import annotations

import dataclasses
import json as _json
import os
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from ductwork.client.wire import NotSent, Reply, Wire, WireError
from ductwork.core import errors, settings
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
    from_dict,
    to_dict,
)

R = TypeVar("R")

# Exceptions a server may name in an error answer; anything else becomes a DuctworkError.
_ERRORS: dict[str, type[errors.DuctworkError]] = {
    cls.__name__: cls
    for cls in (
        errors.NotFound,
        errors.StatusError,
        errors.ValidationError,
        errors.StorageError,
        errors.Conflict,
        errors.Forbidden,
        errors.DuctworkError,
    )
}


# Methods that set a value: repeating one after a lost answer leaves the same state.
_REPEATABLE = frozenset({"GET", "PUT", "PATCH", "DELETE"})
# A gateway's "the server behind me is away" (a restart behind a proxy or load balancer).
_BOUNCED = frozenset({502, 503, 504})
_MAX_DELAY_S = 2.0  # a restarted server is found again within this of coming back
_MAX_TIMEOUT_S = 600.0
# Metric events and console lines per request: a backlog (after an outage) goes as requests a
# server answers well within a timeout, not one request that times out and is sent again.
_CHUNK = 5000


# Storage roots this process was told it cannot reach (said once each).
_told: set[str] = set()
_told_lock = threading.Lock()


class AuthError(errors.DuctworkError, PermissionError):
    """The server refused the API key (missing, wrong or revoked)."""


class _Retry:
    """Back-off for one call while the server is unreachable, up to `settings.retry_window()`.

    The first wait of an outage is said once on stderr (a step's console shows it), so a run
    that seems to pause says why; recovering is said too."""

    _lock = threading.Lock()
    _outage: str | None = None  # the server this process is waiting for, if any

    def __init__(self, url: str) -> None:
        self.url = url
        self.window = settings.retry_window()
        self.deadline: float | None = None
        self.delay = 0.05
        self.waited = False

    def wait(self, cause: object) -> None:
        now = time.monotonic()
        if self.deadline is None:
            self.deadline = now + self.window
        if now >= self.deadline:
            raise errors.StorageError(
                f"cannot reach ductwork server at {self.url}: {cause}"
                f" (retried for {self.window:g} s, DUCTWORK_RETRY_WINDOW)"
            )
        with _Retry._lock:
            first, _Retry._outage = _Retry._outage is None, self.url
        if first:
            _say(f"ductwork: server {self.url} unreachable ({cause}); retrying for up to {self.window:g} s")
        self.waited = True
        time.sleep(min(self.delay, self.deadline - now))
        self.delay = min(self.delay * 2, _MAX_DELAY_S)

    def done(self) -> None:
        if self.waited:
            with _Retry._lock:
                was, _Retry._outage = _Retry._outage, None
            if was is not None:
                _say(f"ductwork: server {self.url} reachable again")


def _say(text: str) -> None:
    try:
        print(text, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass  # no stderr left (interpreter shutting down): the retry goes on regardless


def _quote(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def _record(cls: type[R], data: Any) -> R:
    return from_dict(cls, data)


def _records(cls: type[R], data: Any) -> list[R]:
    return [from_dict(cls, item) for item in data]


class HttpBackend:
    """A `Backend` over a ductwork server at `url`, authenticated by `api_key`."""

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        try:
            self._wire = Wire(self.url, headers, timeout)
        except ValueError as exc:
            raise errors.ValidationError(str(exc)) from exc

    # -- plumbing ----------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
        repeat: bool | None = None,
        settle: Callable[[errors.DuctworkError], Any] | None = None,
    ) -> Any:
        """One API call, retried while the server is away (a restart) for the retry window.

        A request that never left this machine (no connection) or that a gateway bounced (502,
        503) is always sent again. One that was sent but got no answer may have taken effect:
        it is sent again only when `repeat` (default: GET, PUT, PATCH, DELETE, which set rather
        than add). `settle` turns the error answer of such a repeat (the first attempt did it:
        "already exists", "already completed") into the call's result."""
        if json is not None:
            _check_json(json, f"the request body of {method} {path}")
        repeatable = method in _REPEATABLE if repeat is None else repeat
        retry = _Retry(self.url)
        ambiguous = False  # an earlier attempt may have done the work
        while True:
            try:
                reply = self._wire.request(method, path, params=params, json_body=json, timeout=timeout)
            except WireError as exc:
                if not isinstance(exc, NotSent) and not repeatable:
                    raise errors.StorageError(
                        f"cannot reach ductwork server at {self.url}: {exc} (not repeated: the server"
                        " may have done it; check before doing it again)"
                    ) from exc
                ambiguous = ambiguous or not isinstance(exc, NotSent)
                if isinstance(exc.__cause__, TimeoutError):
                    # Alive but slow (a queue of writers after a restart): the repeat waits
                    # longer, so it does not pile more of the same work on a busy server.
                    timeout = min(2 * (timeout or self._wire.timeout), _MAX_TIMEOUT_S)
                retry.wait(exc)
                continue
            if reply.status in _BOUNCED and (repeatable or reply.status != 504):
                ambiguous = ambiguous or reply.status == 504
                retry.wait(f"HTTP {reply.status}")
                continue
            retry.done()
            if reply.status >= 400:
                error = _error_from(reply, f"{method} {path}")
                if ambiguous and settle is not None and not isinstance(error, AuthError):
                    return settle(error)
                raise error
            if reply.status == 204 or not reply.body:
                return None
            return reply.json()

    # -- projects ----------------------------------------------------------------------------

    def ensure_project(self, name: str, system_tags: Sequence[str] = ()) -> Project:
        data = self._call(
            "POST", "/api/projects", json={"name": name, "system_tags": list(system_tags)}, repeat=True
        )
        return _record(Project, data)

    def get_project(self, project_id: str) -> Project:
        return _record(Project, self._call("GET", f"/api/projects/{project_id}"))

    def find_project(self, name: str) -> Project | None:
        found = self._call("GET", "/api/projects", params={"name": name})
        return _record(Project, found[0]) if found else None

    def list_projects(self) -> list[Project]:
        return _records(Project, self._call("GET", "/api/projects"))

    # -- tasks -------------------------------------------------------------------------------

    def create_task(self, task: TaskRecord) -> TaskRecord:
        # The id is ours: a repeat after a lost answer finds the task the first attempt made.
        def made(error: errors.DuctworkError) -> Any:
            if not isinstance(error, errors.Conflict):
                raise error
            return self._call("GET", f"/api/tasks/{task.id}")

        return _record(
            TaskRecord, self._call("POST", "/api/tasks", json=to_dict(task), repeat=True, settle=made)
        )

    def get_task(self, task_id: str) -> TaskRecord:
        return _record(TaskRecord, self._call("GET", f"/api/tasks/{task_id}"))

    def get_tasks(self, task_ids: Sequence[str]) -> list[TaskRecord]:
        return _records(
            TaskRecord, self._call("POST", "/api/tasks/get", json={"ids": list(task_ids)}, repeat=True)
        )

    def query_tasks(self, query: TaskQuery) -> list[TaskRecord]:
        return _records(
            TaskRecord, self._call("POST", "/api/tasks/query", json=dataclasses.asdict(query), repeat=True)
        )

    def count_tasks(self, query: TaskQuery) -> int:
        return int(self._call("POST", "/api/tasks/count", json=dataclasses.asdict(query), repeat=True))

    def edit_task(self, task_id: str, changes: Mapping[str, object]) -> TaskRecord:
        return _record(TaskRecord, self._call("PATCH", f"/api/tasks/{task_id}", json=changes))

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

        return _record(
            TaskRecord,
            self._call("POST", f"/api/tasks/{task_id}/status", json=body, repeat=True, settle=reached),
        )

    def reset_task(self, task_id: str) -> TaskRecord:
        return _record(TaskRecord, self._call("POST", f"/api/tasks/{task_id}/reset", repeat=True))

    def delete_task(self, task_id: str) -> None:
        self._call("DELETE", f"/api/tasks/{task_id}")

    def clone_task(
        self, task_id: str, *, name: str | None = None, project: str | None = None, parent: str | None = None
    ) -> TaskRecord:
        body = {"name": name, "project": project, "parent": parent}
        return _record(TaskRecord, self._call("POST", f"/api/tasks/{task_id}/clone", json=body))

    # -- parameters and configuration --------------------------------------------------------

    def set_parameters(self, task_id: str, params: dict[str, Param], *, replace: bool = False) -> None:
        encoded = {}
        for key, param in params.items():
            if not isinstance(param, Param):
                raise errors.ValidationError(
                    f"task {task_id}: parameter {key!r} must be a Param, got {type(param).__name__}"
                )
            _check_json(
                param.value, f"task {task_id}: parameter {key!r} of type {type(param.value).__name__}"
            )
            encoded[key] = to_dict(param)
        self._call("PUT", f"/api/tasks/{task_id}/parameters", json={"params": encoded, "replace": replace})

    def get_parameters(self, task_id: str) -> dict[str, Param]:
        data = self._call("GET", f"/api/tasks/{task_id}/parameters")
        return {key: _record(Param, value) for key, value in data.items()}

    def set_configuration(self, task_id: str, name: str, config: ConfigObject) -> None:
        if not isinstance(config, ConfigObject) or not isinstance(config.text, str):
            raise errors.ValidationError(
                f"task {task_id}: configuration {name!r} must be a ConfigObject with text"
            )
        self._call("PUT", f"/api/tasks/{task_id}/configuration", json={"name": name, **to_dict(config)})

    def get_configurations(self, task_id: str) -> dict[str, ConfigObject]:
        data = self._call("GET", f"/api/tasks/{task_id}/configuration")
        return {key: _record(ConfigObject, value) for key, value in data.items()}

    # -- artifacts and models ----------------------------------------------------------------

    def put_artifact(self, artifact: ArtifactRecord) -> None:
        self._call("PUT", f"/api/tasks/{artifact.task_id}/artifacts", json=to_dict(artifact))

    def get_artifacts(self, task_id: str) -> list[ArtifactRecord]:
        return _records(ArtifactRecord, self._call("GET", f"/api/tasks/{task_id}/artifacts"))

    def delete_artifact(self, task_id: str, name: str) -> None:
        self._call("DELETE", f"/api/tasks/{task_id}/artifacts/{_quote(name)}")

    def upload_artifact_content(
        self,
        task_id: str,
        name: str,
        data: bytes | Iterator[bytes],
        *,
        extension: str = "",
        root: str | None = None,
    ) -> dict[str, Any]:
        """Send an artifact's stored bytes to the server, which stores them under `root` (the
        task's `output_uri`; the server must allow it) or, by default, its own storage.

        For clients that cannot reach that storage themselves. Answers `{"uri", "hash",
        "size"}`; record the artifact with that `uri` afterwards."""
        path = f"/api/tasks/{task_id}/artifacts/{_quote(name)}/content"
        params = {"ext": extension, "root": root or None}
        retry = _Retry(self.url)
        while True:
            # Bytes can be sent again (a PUT of the same content); a stream only when none of
            # it left (no connection).
            try:
                reply = self._wire.request(
                    "PUT",
                    path,
                    params=params,
                    content=data,
                    headers={"Content-Type": "application/octet-stream"},
                )
            except WireError as exc:
                if not isinstance(exc, NotSent) and not isinstance(data, bytes):
                    raise errors.StorageError(f"cannot reach ductwork server at {self.url}: {exc}") from exc
                retry.wait(exc)
                continue
            if _bounced(reply) and isinstance(data, bytes):
                retry.wait(f"HTTP {reply.status}")
                continue
            retry.done()
            break
        if reply.status >= 400:
            error = _error_from(reply, f"PUT {path}")
            if root and isinstance(error, errors.StorageError):
                raise errors.StorageError(
                    f"artifact {name!r} of task {task_id}: this machine cannot reach output_uri {root!r}"
                    f" and the ductwork server at {self.url} cannot store it there either: {error}"
                ) from None
            raise error
        result: dict[str, Any] = reply.json()
        return result

    def download_artifact_content(self, task_id: str, name: str) -> Iterator[bytes]:
        """Stream an artifact's stored bytes from the server."""
        return self._download(f"/api/tasks/{task_id}/artifacts/{_quote(name)}/content")

    def download_model_content(self, model_id: str) -> Iterator[bytes]:
        """Stream a model's stored weights from the server."""
        return self._download(f"/api/models/{_quote(model_id)}/content")

    def _download(self, path: str) -> Iterator[bytes]:
        retry = _Retry(self.url)
        while True:  # the request is repeated until an answer starts; a broken body is an error
            parts = self._wire.stream("GET", path)
            try:
                head = next(parts)
            except WireError as exc:
                parts.close()
                retry.wait(exc)
                continue
            if isinstance(head, Reply) and _bounced(head):
                parts.close()
                retry.wait(f"HTTP {head.status}")
                continue
            retry.done()
            break
        try:
            assert isinstance(head, Reply)
            if head.status >= 400:
                raise _error_from(head, f"GET {path}")
            for chunk in parts:
                assert isinstance(chunk, bytes)
                yield chunk
        except WireError as exc:
            raise errors.StorageError(f"cannot reach ductwork server at {self.url}: {exc}") from exc
        finally:
            parts.close()

    def put_model(self, model: ModelRecord) -> ModelRecord:
        return _record(ModelRecord, self._call("POST", "/api/models", json=to_dict(model), repeat=True))

    def get_model(self, model_id: str) -> ModelRecord:
        return _record(ModelRecord, self._call("GET", f"/api/models/{model_id}"))

    def query_models(
        self, *, project: str | None = None, name: str | None = None, tags: Sequence[str] | None = None
    ) -> list[ModelRecord]:
        body = {"project": project, "name": name, "tags": None if tags is None else list(tags)}
        return _records(ModelRecord, self._call("POST", "/api/models/query", json=body, repeat=True))

    def attach_model(self, link: TaskModel) -> None:
        self._call(
            "POST",
            f"/api/tasks/{link.task_id}/models",
            json=to_dict(link),
            repeat=True,
            settle=_conflict_is_done,
        )

    def get_task_models(self, task_id: str) -> list[TaskModel]:
        return _records(TaskModel, self._call("GET", f"/api/tasks/{task_id}/models"))

    # -- metrics and console -----------------------------------------------------------------

    def add_events(self, events: Sequence[MetricEvent]) -> None:
        if events:
            # Repeated after a lost answer: a point stored twice (same iteration and value)
            # beats a point acknowledged to nobody and lost.
            for start in range(0, len(events), _CHUNK):
                chunk = [to_dict(e) for e in events[start : start + _CHUNK]]
                self._call("POST", "/api/metrics", json=chunk, repeat=True)

    def get_events(self, query: EventQuery) -> list[MetricEvent]:
        return _records(
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
        return _records(ConsoleLine, self._call("GET", f"/api/tasks/{task_id}/console", params=params))

    # -- caching -----------------------------------------------------------------------------

    def find_cached(self, cache_key: str) -> TaskRecord | None:
        data = self._call("GET", "/api/cache", params={"key": cache_key})
        return None if data is None else _record(TaskRecord, data)

    # -- pipeline runs -----------------------------------------------------------------------

    def put_nodes(self, nodes: Sequence[NodeState]) -> None:
        if nodes:
            self._call("POST", "/api/nodes", json=[to_dict(n) for n in nodes], repeat=True)

    def get_nodes(self, run_id: str) -> list[NodeState]:
        return _records(NodeState, self._call("GET", f"/api/runs/{run_id}/nodes"))

    # -- queues and workers ------------------------------------------------------------------

    def ensure_queue(self, name: str, *, user: str = "") -> Queue:
        # `user` is not sent: the server records the key's owner, whoever the caller names.
        return _record(Queue, self._call("POST", "/api/queues", json={"name": name}, repeat=True))

    def get_queue(self, name: str) -> Queue:
        return _record(Queue, self._call("GET", f"/api/queues/{_quote(name)}"))

    def list_queues(self) -> list[Queue]:
        return _records(Queue, self._call("GET", "/api/queues"))

    def delete_queue(self, name: str) -> None:
        self._call("DELETE", f"/api/queues/{_quote(name)}")

    def enqueue(self, task_id: str, queue: str, *, priority: int = 0) -> QueueEntry:
        body = {"task_id": task_id, "priority": priority}

        def queued(error: errors.DuctworkError) -> Any:
            for entry in self._call("GET", f"/api/queues/{_quote(queue)}/entries"):
                if entry.get("task_id") == task_id:
                    return entry
            raise error

        return _record(
            QueueEntry,
            self._call("POST", f"/api/queues/{_quote(queue)}/entries", json=body, repeat=True, settle=queued),
        )

    def dequeue(self, task_id: str) -> None:
        def gone(error: errors.DuctworkError) -> Any:
            if self._call("GET", f"/api/tasks/{task_id}")["status"] == "queued":
                raise error
            return None

        self._call("POST", f"/api/tasks/{task_id}/dequeue", repeat=True, settle=gone)

    def queue_entries(self, queue: str) -> list[QueueEntry]:
        return _records(QueueEntry, self._call("GET", f"/api/queues/{_quote(queue)}/entries"))

    def claim(self, queues: Sequence[str], worker: str) -> TaskRecord | None:
        return self.wait_claim(queues, worker, wait=0.0)

    def wait_claim(self, queues: Sequence[str], worker: str, *, wait: float) -> TaskRecord | None:
        """Like `claim`, but the server holds the call up to `wait` seconds until work arrives
        (a long poll woken by the enqueue itself, so an idle agent learns of new work at once)."""
        body = {"queues": list(queues), "worker": worker, "wait": wait}
        data = self._call("POST", "/api/claims", json=body, timeout=wait + 30.0)
        return None if data is None else _record(TaskRecord, data)

    def register_worker(self, worker: Worker) -> None:
        self._call("POST", "/api/workers", json=to_dict(worker), repeat=True)

    def heartbeat(self, worker_id: str, task_id: str | None) -> None:
        self._call("POST", f"/api/workers/{worker_id}/heartbeat", json={"task_id": task_id}, repeat=True)

    def unregister_worker(self, worker_id: str) -> None:
        self._call("DELETE", f"/api/workers/{worker_id}")

    def list_workers(self) -> list[Worker]:
        return _records(Worker, self._call("GET", "/api/workers"))

    # -- runs (server-side services) ---------------------------------------------------------

    def new_run(self, run_id: str, args: dict[str, Any], queue: str | None = None) -> dict[str, Any]:
        """Clone run `run_id` with new `Args`, enqueue it; answers `{"id", "queue", "listening"}`."""
        result: dict[str, Any] = self._call(
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

        return _record(
            TaskRecord, self._call("POST", f"/api/tasks/{task_id}/abort", repeat=True, settle=stopped)
        )

    def storage(self) -> dict[str, Any]:
        """Where the server keeps artifacts: `{"artifacts_root", "remote", "token", "allowed"}`."""
        result: dict[str, Any] = self._call("GET", "/api/storage")
        return result

    def sends_artifacts_through_server(self, output_uri: str | None = None) -> bool:
        """Whether artifact bytes stored at `output_uri` (None: the server's own storage) go
        through the server (`upload_artifact_content`, `download_artifact_content`).

        No when this machine reaches that storage itself: remote storage its own standard
        credentials open (probed once per root, `artifacts.reach`), or the server's local root
        when this machine sees the same folder (it reads the server's token there: same host or
        a shared mount, not merely a folder of the same name). Yes otherwise: the server then
        writes the bytes where the task says (its `output_uri`, which the server must allow, or
        its own storage) and streams them back."""
        from ductwork.artifacts.locations import is_remote  # deferred: the artifact package is heavy

        if output_uri and is_remote(output_uri):
            return self._unreachable(self._storage_root_of(output_uri)) is not None
        where = self.storage()
        root = str(where["artifacts_root"])
        if is_remote(root):
            return self._unreachable(root) is not None
        marker = os.path.join(root, ".ductwork-server")
        try:
            with open(marker, encoding="utf-8") as handle:
                return handle.read().strip() != str(where["token"])
        except OSError:
            return True

    def _storage_root_of(self, uri: str) -> str:
        """The storage root `uri` lies under (the server's root or an allowed prefix), so one
        probe covers every task writing there; `uri` itself when the server names none."""
        from ductwork.artifacts.locations import is_remote

        where = self.storage()
        roots = [str(where["artifacts_root"]), *(str(p) for p in where.get("allowed", ()))]
        covering = [r for r in roots if is_remote(r) and _covers(r, uri)]
        return max(covering, key=len) if covering else uri

    def _unreachable(self, root: str) -> str | None:
        """Why this machine cannot reach `root` (said once on stderr), or None."""
        from ductwork.artifacts import reach

        reason = reach.unreachable(root)
        if reason is not None:
            with _told_lock:
                first = root not in _told
                _told.add(root)
            if first:
                _say(
                    f"ductwork: this machine cannot reach {root} ({reason}); "
                    f"its artifacts go through the server at {self.url}"
                )
        return reason

    def whoami(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/api/whoami")
        return result

    def close(self) -> None:
        self._wire.close()


def _bounced(reply: Reply) -> bool:
    """A gateway's "the server behind me is away", not the server's own error answer (a 503
    naming a StorageError: storage it cannot reach, which waiting here does not fix)."""
    if reply.status not in _BOUNCED:
        return False
    try:
        return "error" not in reply.json()
    except (ValueError, AttributeError, TypeError):
        return True


def _covers(prefix: str, uri: str) -> bool:
    """Whether `uri` lies under `prefix`, by whole path segments."""
    base = prefix.rstrip("/")
    return uri == base or uri.startswith(base + "/")


def _conflict_is_done(error: errors.DuctworkError) -> Any:
    """For a repeated call whose first attempt already did it ("already exists")."""
    if isinstance(error, errors.Conflict):
        return None
    raise error


def _check_json(value: Any, what: str) -> None:
    """Raise ValidationError (as the store would) for a value JSON cannot carry."""
    try:
        _json.dumps(value, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise errors.ValidationError(
            f"{what} cannot be stored (store a str, number, bool, None, list or dict): {exc}"
        ) from exc


def _error_from(reply: Reply, what: str) -> errors.DuctworkError:
    """The exception an error answer stands for."""
    try:
        body = reply.json()
        name, message = str(body.get("error", "")), str(body.get("message", ""))
    except (ValueError, AttributeError):
        name, message = "", reply.text[:500]
    if reply.status == 403 and name == "Forbidden":
        # A known caller refused for a role or owner reason: the server's sentence says why.
        return errors.Forbidden(message or f"forbidden: {what}")
    if reply.status in (401, 403):
        return AuthError(message or f"the server refused the API key ({reply.status})")
    cls = _ERRORS.get(name)
    if cls is None:
        cls = {404: errors.NotFound, 409: errors.Conflict, 422: errors.ValidationError}.get(
            reply.status, errors.DuctworkError
        )
    return cls(message or f"HTTP {reply.status} from {what}")
