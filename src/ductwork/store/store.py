"""`Store`: the backend contract implemented directly on the database.

Each method is one transaction: `write()` for anything that changes rows (`BEGIN
IMMEDIATE` on SQLite), `read()` for lookups. The work itself lives in one module per
resource; this class only opens the transaction and passes the connection on. The store
matches `ductwork.client.contract.Backend` structurally and never imports the client.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

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
)
from ductwork.store import (
    accounts,
    artifacts,
    blobs,
    changes,
    held,
    migrate,
    models,
    projects,
    reserve,
    taskqueries,
    tasks,
)
from ductwork.store import events as _events
from ductwork.store import nodes as _nodes
from ductwork.store import params as _params
from ductwork.store import queues as _queues
from ductwork.store.engine import Database, sqlite_path

Call = tuple[str, Sequence[Any], Mapping[str, Any]]  # (method, args, kwargs)


class Store:
    """The database behind everything, at `url` (`sqlite:///...` or `postgresql+psycopg://...`).

    Opening it creates the folder of a SQLite file and brings the schema up to date.
    Safe to share between threads: each call checks a connection out of the pool.
    """

    # This process's own use of the store: no transport serves these to another process.
    process_only = frozenset({"before_use", "close", "release_reserve", "hold_start", "batch_held"})

    def __init__(self, url: str, *, migrate_schema: bool = True) -> None:
        self._db = Database(url)
        self.url = url
        self.dialect = self._db.dialect
        self.closed = False
        self._accounts = accounts.Accounts()
        if migrate_schema:
            migrate.ensure_current(self._db)
        self._file = sqlite_path(self._db.url) if self.dialect == "sqlite" else None
        if self._file is not None:
            reserve.keep(self._file)

    def __repr__(self) -> str:
        return f"Store({self._db.where!r})"

    def release_reserve(self) -> bool:
        """Free the room kept beside a SQLite store (`reserve`) for a task's closing writes
        on a full disk; False for PostgreSQL or when it is already gone."""
        return self._file is not None and reserve.release(self._file)

    def batch(self, calls: Sequence[Call], *, whole: bool = False) -> list[Any]:
        """Several calls `(method, args, kwargs)` made in order as if one by one (their results,
        or the first one's failure raised, the calls after it not made), in one transaction:
        one commit instead of one each (`Database.batch`; the pipe transport's `batch` too).
        `whole`: all or nothing, a failure undoes the calls before it too (and costs less)."""
        if whole:
            with self._db.batch(whole=True):
                return [self._batched(method)(*args, **kwargs) for method, args, kwargs in calls]
        results: list[Any] = []
        failure: Exception | None = None
        with self._db.batch():
            for method, args, kwargs in calls:
                try:
                    results.append(self._batched(method)(*args, **kwargs))
                except Exception as exc:  # its own writes are undone; the ones before it stay
                    failure = exc
                    break
        if failure is not None:
            raise failure
        return results

    def _batched(self, method: str) -> Callable[..., Any]:
        if method.startswith("_") or method == "batch" or method in self.process_only:
            raise AttributeError(f"the store has no method {method!r} to batch")
        return getattr(self, method)  # type: ignore[no-any-return]

    def hold_start(self, record: TaskRecord, params: dict[str, Param]) -> held.HeldStart:
        """A new task and its parameters checked now, to write later (`batch_held`): a writer
        that holds writes back hears of bad input before it goes on, not at the commit."""
        return held.hold(record, params, self.dialect)

    def batch_held(self, starts: Sequence[held.HeldStart], calls: Sequence[Call]) -> list[Any]:
        """`starts` (from `hold_start`) written, then `batch(calls, whole=True)`, in one transaction."""
        with self._db.batch(whole=True):
            with self._db.write() as conn:
                held.write(conn, starts)
            return self.batch(calls, whole=True)  # inside this batch: the same transaction

    def before_use(self, hook: Callable[[], None]) -> Callable[[], None]:
        """Call `hook` before each call of this process opens its transaction (`Database.before_use`):
        a debug run's held-back step writes are committed before anyone reads the store."""
        return self._db.before_use(hook)

    @property
    def database(self) -> Database:
        """The engine and transactions, for tools that need SQL the methods do not offer."""
        return self._db

    # projects

    def ensure_project(self, name: str, system_tags: Sequence[str] = ()) -> Project:
        with self._db.write() as conn:
            return projects.ensure(conn, name, system_tags)

    def get_project(self, project_id: str) -> Project:
        with self._db.read() as conn:
            return projects.get(conn, project_id)

    def find_project(self, name: str) -> Project | None:
        with self._db.read() as conn:
            return projects.find(conn, name)

    def list_projects(self) -> list[Project]:
        with self._db.read() as conn:
            return projects.list_all(conn)

    # tasks

    def create_task(self, task: TaskRecord) -> TaskRecord:
        with self._db.write() as conn:
            return tasks.create(conn, task)

    def get_task(self, task_id: str) -> TaskRecord:
        with self._db.read() as conn:
            return tasks.get(conn, task_id)

    def get_tasks(self, task_ids: Sequence[str]) -> list[TaskRecord]:
        with self._db.read() as conn:
            return tasks.get_many(conn, task_ids)

    def query_tasks(self, query: TaskQuery) -> list[TaskRecord]:
        with self._db.read() as conn:
            return taskqueries.query(conn, query)

    def count_tasks(self, query: TaskQuery) -> int:
        with self._db.read() as conn:
            return taskqueries.count(conn, query)

    def edit_task(self, task_id: str, changes: Mapping[str, object]) -> TaskRecord:
        with self._db.write() as conn:
            return tasks.edit(conn, task_id, changes)

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
        with self._db.write() as conn:
            return tasks.set_status(
                conn, task_id, str(status), message=message, reason=reason, force=force, expect=expect
            )

    def reset_task(self, task_id: str) -> TaskRecord:
        with self._db.write() as conn:
            return tasks.reset(conn, task_id)

    def delete_task(self, task_id: str) -> None:
        with self._db.write() as conn:
            tasks.delete(conn, task_id)

    def clone_task(
        self, task_id: str, *, name: str | None = None, project: str | None = None, parent: str | None = None
    ) -> TaskRecord:
        with self._db.write() as conn:
            return tasks.clone(conn, task_id, name=name, project=project, parent=parent)

    # parameters and configuration

    def set_parameters(self, task_id: str, params: dict[str, Param], *, replace: bool = False) -> None:
        with self._db.write() as conn:
            _params.set_params(conn, task_id, params, replace=replace)

    def set_parameters_of(self, by_task: Mapping[str, dict[str, Param]]) -> None:
        """`set_parameters` (keeping the others) for several tasks in one statement."""
        with self._db.write() as conn:
            _params.set_many(conn, by_task)

    def get_parameters(self, task_id: str) -> dict[str, Param]:
        with self._db.read() as conn:
            return _params.get_params(conn, task_id)

    def set_configuration(self, task_id: str, name: str, config: ConfigObject) -> None:
        with self._db.write() as conn:
            _params.set_config(conn, task_id, name, config)

    def get_configurations(self, task_id: str) -> dict[str, ConfigObject]:
        with self._db.read() as conn:
            return _params.get_configs(conn, task_id)

    # artifacts and models

    def put_artifact(self, artifact: ArtifactRecord) -> None:
        with self._db.write() as conn:
            artifacts.put(conn, artifact)

    def put_artifacts(self, records: Sequence[ArtifactRecord]) -> None:
        """`put_artifact` for several artifacts (of any tasks) in one statement."""
        with self._db.write() as conn:
            artifacts.put_many(conn, records)

    def get_artifacts(self, task_id: str) -> list[ArtifactRecord]:
        with self._db.read() as conn:
            return artifacts.get_all(conn, task_id)

    def delete_artifact(self, task_id: str, name: str) -> None:
        with self._db.write() as conn:
            artifacts.delete(conn, task_id, name)

    def referenced_hashes(self) -> set[str]:
        """Every content hash an artifact, model or event record points at (`store.blobs`)."""
        with self._db.read() as conn:
            return blobs.referenced(conn)

    def put_model(self, model: ModelRecord) -> ModelRecord:
        with self._db.write() as conn:
            return models.put(conn, model)

    def get_model(self, model_id: str) -> ModelRecord:
        with self._db.read() as conn:
            return models.get(conn, model_id)

    def query_models(
        self, *, project: str | None = None, name: str | None = None, tags: Sequence[str] | None = None
    ) -> list[ModelRecord]:
        with self._db.read() as conn:
            return models.query(conn, project=project, name=name, tags=tags)

    def attach_model(self, link: TaskModel) -> None:
        with self._db.write() as conn:
            models.attach(conn, link)

    def rename_model_link(self, link: TaskModel, name: str) -> None:
        with self._db.write() as conn:
            models.rename_link(conn, link, name)

    def get_task_models(self, task_id: str) -> list[TaskModel]:
        with self._db.read() as conn:
            return models.links(conn, task_id)

    # metrics and console

    def add_events(self, events: Sequence[MetricEvent]) -> None:
        if not events:
            return
        with self._db.write() as conn:
            _events.add_events(conn, events)

    def add_event_rows(self, rows: list[tuple[object, ...]]) -> None:
        """`add_events` on rows, the fields of `MetricEvent` in order: the SDK's scalars as it
        queued them, with no record built per point (the embedded store's bulk path)."""
        if not rows:
            return
        with self._db.write() as conn:
            _events.add_event_rows(conn, rows)

    def get_events(self, query: EventQuery) -> list[MetricEvent]:
        with self._db.read() as conn:
            return _events.get_events(conn, query)

    def add_console(self, lines: Sequence[ConsoleLine]) -> None:
        if not lines:
            return
        with self._db.write() as conn:
            _events.add_console(conn, lines)

    def get_console(self, task_id: str, *, after: int = 0, limit: int | None = None) -> list[ConsoleLine]:
        with self._db.read() as conn:
            return _events.get_console(conn, task_id, after=after, limit=limit)

    # caching

    def find_cached(self, cache_key: str) -> TaskRecord | None:
        with self._db.read() as conn:
            return tasks.find_cached(conn, cache_key)

    # pipeline runs

    def put_nodes(self, nodes: Sequence[NodeState]) -> None:
        if not nodes:
            return
        with self._db.write() as conn:
            _nodes.put(conn, nodes)

    def get_nodes(self, run_id: str) -> list[NodeState]:
        with self._db.read() as conn:
            return _nodes.get(conn, run_id)

    # queues and workers

    def ensure_queue(self, name: str, *, user: str = "") -> Queue:
        with self._db.write() as conn:
            return _queues.ensure(conn, name, user)

    def get_queue(self, name: str) -> Queue:
        with self._db.read() as conn:
            return _queues.get(conn, name)

    def list_queues(self) -> list[Queue]:
        with self._db.read() as conn:
            return _queues.list_all(conn)

    def delete_queue(self, name: str) -> None:
        with self._db.write() as conn:
            _queues.delete(conn, name)

    def enqueue(self, task_id: str, queue: str, *, priority: int = 0) -> QueueEntry:
        with self._db.write() as conn:
            return _queues.enqueue(conn, task_id, queue, priority)

    def enqueue_many(self, task_ids: Sequence[str], queue: str, *, priority: int = 0) -> list[QueueEntry]:
        with self._db.write() as conn:
            return _queues.enqueue_many(conn, task_ids, queue, priority)

    def dequeue(self, task_id: str) -> None:
        with self._db.write() as conn:
            _queues.dequeue(conn, task_id)

    def queue_entries(self, queue: str) -> list[QueueEntry]:
        with self._db.read() as conn:
            return _queues.entries(conn, queue)

    def claim(
        self, queues: Sequence[str], worker: str, *, end: Mapping[str, Any] | None = None
    ) -> TaskRecord | None:
        with self._db.write() as conn:
            return _queues.claim(conn, queues, worker, end)

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
        with self._db.write() as conn:
            return _queues.end_claim(
                conn, task_id, worker, started, status, message=message, reason=reason, console=console
            )

    def register_worker(self, worker: Worker) -> None:
        with self._db.write() as conn:
            _queues.register_worker(conn, worker)

    def heartbeat(self, worker_id: str, task_id: str | None) -> None:
        with self._db.write() as conn:
            _queues.heartbeat(conn, worker_id, task_id)

    def unregister_worker(self, worker_id: str) -> None:
        with self._db.write() as conn:
            _queues.unregister_worker(conn, worker_id)

    def list_workers(self) -> list[Worker]:
        with self._db.read() as conn:
            return _queues.list_workers(conn)

    # live changes (server)

    def changes_since(self, cursor: float | None) -> changes.Changes:
        """Tasks and runs changed after `cursor` (None: only the cursor to start from)."""
        with self._db.read() as conn:
            return changes.since(conn, cursor)

    # users and API keys (server)

    def create_user(
        self, name: str, *, password: str | None = None, admin: bool = False, role: str | None = None
    ) -> accounts.User:
        with self._db.write() as conn:
            return self._accounts.create_user(conn, name, password=password, admin=admin, role=role)

    def set_role(self, name: str, role: str) -> accounts.User:
        with self._db.write() as conn:
            return self._accounts.set_role(conn, name, role)

    def get_user(self, name: str) -> accounts.User:
        with self._db.read() as conn:
            return self._accounts.get_user(conn, name)

    def list_users(self) -> list[accounts.User]:
        with self._db.read() as conn:
            return self._accounts.list_users(conn)

    def verify_password(self, name: str, password: str) -> accounts.User | None:
        with self._db.read() as conn:
            return self._accounts.verify_password(conn, name, password)

    def create_api_key(self, user: str, *, name: str = "") -> accounts.NewApiKey:
        """A new key for `user`; the returned secret (and `.token`) is never retrievable again."""
        with self._db.write() as conn:
            return self._accounts.create_api_key(conn, user, name=name)

    def verify_api_key(self, token: str) -> accounts.User | None:
        return self.check_token(token).user

    # web sessions and failed logins (server)

    def create_session(self, user: str, *, name: str, expires: float) -> accounts.NewApiKey:
        """A web session for `user`: a key of kind "session" that ends at `expires` at the latest."""
        with self._db.write() as conn:
            return self._accounts.create_api_key(conn, user, name=name, kind="session", expires=expires)

    def check_token(
        self, token: str, *, before_scrypt: Callable[[], None] | None = None
    ) -> accounts.TokenCheck:
        """What `token` proves (see `Accounts.check_token`); a session's last use is written when due."""
        with self._db.read() as conn:
            checked = self._accounts.check_token(conn, token, before_scrypt=before_scrypt)
        if checked.touch:
            with self._db.write() as conn:
                self._accounts.touch_key(conn, checked.key_id)
        return checked

    def end_session(self, token: str) -> bool:
        """End the web session `token` proves; a forged, foreign or API-key token ends nothing."""
        with self._db.write() as conn:
            return self._accounts.end_session(conn, token)

    def end_user_sessions(self, name: str) -> int:
        with self._db.write() as conn:
            return self._accounts.end_user_sessions(conn, name)

    def set_password(self, name: str, password: str) -> int:
        """A new password for `name`; every web session of theirs ends (how many did)."""
        with self._db.write() as conn:
            ended = self._accounts.set_password(conn, name, password)
            self._accounts.clear_failures(conn, [f"user:{name}"])
            return ended

    def login_wait(self, subjects: Sequence[str]) -> float:
        with self._db.read() as conn:
            return self._accounts.login_wait(conn, subjects)

    def record_failure(self, subjects: Sequence[tuple[str, int]], *, backoff: float, longest: float) -> float:
        """Count a failure for each (subject, limit); the longest wait now imposed on any of them."""
        with self._db.write() as conn:
            waits = [
                self._accounts.record_failure(conn, subject, limit=limit, backoff=backoff, longest=longest)
                for subject, limit in subjects
            ]
        return max(waits, default=0.0)

    def clear_failures(self, subjects: Sequence[str]) -> None:
        with self._db.write() as conn:
            self._accounts.clear_failures(conn, subjects)

    def revoke_api_key(self, key_id: str) -> None:
        with self._db.write() as conn:
            self._accounts.revoke_api_key(conn, key_id)

    def list_api_keys(self, user: str | None = None) -> list[accounts.ApiKey]:
        with self._db.read() as conn:
            return self._accounts.list_api_keys(conn, user)

    def close(self) -> None:
        """Close the pooled connections (a later call would open new ones)."""
        self.closed = True
        self._db.dispose()
