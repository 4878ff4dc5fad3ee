"""`Task`: one tracked execution, with ClearML's public API over any ductwork backend.

The SDK only talks to `ductwork.client.backend()` (embedded store, HTTP server or a local-mode
pipe), so the same code runs in a script, under an agent and inside a pipeline step.

`Task` is the facade that composes the parts, each of which takes the task's core
(`taskcore.TaskCore`) and knows nothing of this class: finding and making drafts (`catalog`),
parameters and configuration (`hyperparams`), plain fields (`fields`), reported metrics read
back (`metrics`), starting (`starting`) and ending (`ending`), artifacts (`artifact`), models
(`model`), the `Logger` and capture (`capture/`).

A few behaviours differ from ClearML on purpose:
* `Task.init` always creates a new task (history is never overwritten); `reuse_last_task_id`
  given a task id resets that task and reuses it.
* `get_parameters(cast=True)` gives back the stored Python types (an int stays an int).
* Background artifact uploads that fail make `flush`/`close` raise and the task fail.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from ductwork import client
from ductwork.client.contract import Backend
from ductwork.core import settings
from ductwork.core.errors import NotFound, StatusError, ValidationError
from ductwork.core.records import QueueEntry, TaskRecord, TaskTypes
from ductwork.core.states import TaskStatus
from ductwork.sdk import (
    artifact,
    current,
    ending,
    offline,
    offline_import,
    requirements,
    script,
    starting,
)
from ductwork.sdk.artifact import Artifact, ArtifactOptions
from ductwork.sdk.capture import arguments, frameworks
from ductwork.sdk.capture.console import original_stdout
from ductwork.sdk.catalog import TaskCatalog
from ductwork.sdk.checks import optional_str, require_str, str_list, task_id_of
from ductwork.sdk.connected import ConnectedDict
from ductwork.sdk.logger import Logger
from ductwork.sdk.metrics import ReportedMetrics
from ductwork.sdk.model import Model
from ductwork.sdk.registered import Registered
from ductwork.sdk.starting import CONSOLE_CAPTURED, DEVELOPMENT, FRAMEWORKS, TaskStart

# argparse results are connected as soon as they are parsed, even before Task.init.
arguments.install()
_init_lock = threading.RLock()


class Task(TaskCatalog, ReportedMetrics):
    """A tracked execution. Create one with `Task.init`, `Task.create` or `Task.clone`.

    Its API is spread by theme: finding and creating (`TaskCatalog`), parameters and
    configuration (`Hyperparameters`), plain fields (`TaskFields`), reported metrics
    (`ReportedMetrics`); running, status, artifacts and models are here."""

    TaskTypes = TaskTypes
    TaskStatusEnum = TaskStatus

    # ------------------------------------------------------------------ creating and finding

    @classmethod
    def init(
        cls,
        project_name: str | None = None,
        task_name: str | None = None,
        task_type: str = TaskTypes.training,
        tags: Sequence[str] | None = None,
        reuse_last_task_id: bool | str = True,
        continue_last_task: bool | str | int = False,
        output_uri: str | bool | None = None,
        auto_connect_arg_parser: bool | Mapping[str, bool] = True,
        auto_connect_frameworks: bool | Mapping[str, object] = True,
        auto_resource_monitoring: bool | Mapping[str, object] = True,
        auto_connect_streams: bool | Mapping[str, bool] = True,
        deferred_init: bool = False,
    ) -> Task:
        """The task of this process: created (status in_progress, system tag `development`), or,
        when `DUCTWORK_TASK_ID` is set (an agent or a pipeline runs us), that task.

        Called again while that task is open, it returns the same task. `deferred_init` is
        accepted for compatibility: initialisation takes milliseconds, so it is always done
        before returning."""
        with _init_lock:
            existing = current.main_task()
            if isinstance(existing, Task) and not existing._closed:
                return existing
            wanted = TaskStart.checked(
                project_name,
                task_name,
                task_type,
                tags,
                reuse_last_task_id,
                continue_last_task,
                output_uri,
                auto_connect_arg_parser,
                auto_connect_frameworks,
                auto_resource_monitoring,
                auto_connect_streams,
            )
            task = wanted.open(cls)
            starting.start(task, wanted)
            return task

    @classmethod
    def _from_record(cls, record: TaskRecord, *, remote: bool = False) -> Task:
        """A Task over an existing record (for the pipeline engine); `remote=True` makes
        `connect()` pull values from the backend, as under an agent. While it is current (see
        `_activate`) what this context prints goes to its console."""
        task = cls(record, client.backend(), remote=remote)
        starting.capture_console(task)
        return task

    @staticmethod
    @contextmanager
    def _activate(task: Task) -> Iterator[Task]:
        """Make `task` the current task of this context (thread / asyncio task) for the block."""
        with current.activate(task):
            yield task

    @classmethod
    def _deferred(cls, record: TaskRecord, *, console: bool = True) -> current.Deferred:
        """A context in which a Task over `record` is current, made only if something asks for
        it (see `current.Deferred`); what it prints, reports or plots goes to it as with
        `_activate`. The context's `made` says whether it was made (to flush it). `console`:
        this process records consoles (`starting.records_console`, asked once by the caller)."""
        if console:  # the block's first print makes the task (and its first figure: the caller
            starting.console_ready()  # watches the frameworks, `frameworks.enable`)

        def make() -> Task:
            task = cls._from_record(record)
            frameworks.start_for(task)
            return task

        return current.Deferred(make)

    @classmethod
    def add_requirements(cls, package_name: str, package_version: str | None = None) -> None:
        """Record `package_name` (or each line of the requirements file at that path) in the
        requirements of the tasks `Task.init` creates from now on; call it before `Task.init`.
        `package_version`: None for the installed version, "" for any, "2.4.0" or ">=2.4"."""
        requirements.add(package_name, package_version)

    @classmethod
    def force_store_standalone_script(cls, force: bool = True) -> None:
        """With `force`, the tasks `Task.init` creates from now on store the entry script's code
        and no git repository (no remote, branch, commit or diff): an agent runs that code alone."""
        script.store_standalone(force)

    @classmethod
    def set_offline(cls, offline_mode: bool = False) -> None:
        """Offline mode for the `Task.init` calls that follow: no backend is contacted, the
        task is recorded in a session folder (printed) to import later. Going back online
        while the offline task is open raises; under an agent it does nothing."""
        found = current.main_task()
        offline.set_offline(offline_mode, task_open=found is not None and not found._closed)

    @classmethod
    def is_offline(cls) -> bool:
        return offline.is_offline()

    def get_offline_mode_folder(self) -> str | None:
        """The session folder of this offline task (None online)."""
        folder = (
            getattr(self._backend, "folder", None)
            if isinstance(self._backend, offline.SessionBackend)
            else None
        )
        return None if folder is None else str(folder)

    @classmethod
    def import_offline_session(
        cls, session_folder_zip: str, previous_task_id: str | None = None, iteration_offset: int = 0
    ) -> str:
        """Replay an offline session (its folder or zip) into this backend, as a new task or
        onto `previous_task_id` (its reports' iterations moved by `iteration_offset`); its id."""
        return offline_import.import_session(
            client.backend(), session_folder_zip, previous_task_id, iteration_offset
        )

    @classmethod
    def current_task(cls) -> Task | None:
        found = current.get()
        return found if isinstance(found, Task) else None

    @classmethod
    def clone(
        cls,
        source_task: Task | str | None = None,
        name: str | None = None,
        comment: str | None = None,
        parent: str | None = None,
        project: str | None = None,
    ) -> Task:
        """A draft copy with parameters, configuration and input models (no outputs).

        `parent` defaults to the source's parent, else the source itself; `project` is an id."""
        source = task_id_of("source_task", source_task if source_task is not None else current.get())
        for what, value in (("name", name), ("comment", comment), ("parent", parent), ("project", project)):
            optional_str(what, value)
        backend = client.backend()
        original = backend.get_task(source)
        record = backend.clone_task(
            source,
            name=name if name is not None else f"Clone Of {original.name}",
            project=project,
            parent=parent if parent is not None else (original.parent or original.id),
        )
        if comment is not None:
            record = backend.edit_task(record.id, {"comment": comment})
        return cls(record, backend)

    @classmethod
    def enqueue(
        cls,
        task: Task | str,
        queue_name: str | None = None,
        queue_id: str | None = None,
        force: bool = False,
    ) -> QueueEntry:
        """Put a draft (or stopped / failed) task on a queue; `force` first stops a running one."""
        backend = client.backend()
        task_id = task_id_of("task", task)
        queue = _queue_name(backend, queue_name, queue_id)
        if force:
            status = backend.get_task(task_id).status
            if status not in (TaskStatus.created.value, TaskStatus.stopped.value, TaskStatus.failed.value):
                backend.set_status(task_id, TaskStatus.stopped.value, force=True, message="re-enqueued")
        entry = backend.enqueue(task_id, queue)
        if isinstance(task, Task):
            task.reload()
        return entry

    @classmethod
    def dequeue(cls, task: Task | str) -> None:
        backend = client.backend()
        backend.dequeue(task_id_of("task", task))
        if isinstance(task, Task):
            task.reload()

    @staticmethod
    def running_locally() -> bool:
        """False when an agent or a pipeline runs this process (`DUCTWORK_TASK_ID` is set)."""
        return settings.task_id() is None

    def is_main_task(self) -> bool:
        """Whether this object is the process's main task: the one `Task.init` gave (or a
        pipeline made current), not a task this process created or fetched by id."""
        return current.main_task() is self

    # ------------------------------------------------------------------ status

    def mark_started(self, force: bool = False) -> None:
        self._set_status(TaskStatus.in_progress, force=force)
        self._owned = True

    # `ignore_errors` is accepted for ClearML compatibility; an illegal change always raises StatusError.

    def mark_completed(
        self, ignore_errors: bool = True, status_message: str | None = None, force: bool = False
    ) -> None:
        """Completed, once every report and upload is stored (an upload failure raises first)."""
        self.flush(wait_for_uploads=True)
        self._set_status(TaskStatus.completed, force=force, message=status_message)

    def mark_failed(
        self,
        ignore_errors: bool = True,
        status_reason: str | None = None,
        status_message: str | None = None,
        force: bool = False,
    ) -> None:
        self._set_status(TaskStatus.failed, force=force, message=status_message, reason=status_reason)

    def mark_stopped(
        self, force: bool = False, status_message: str | None = None, status_reason: str | None = None
    ) -> None:
        self._set_status(TaskStatus.stopped, force=force, message=status_message, reason=status_reason)

    def _set_status(
        self,
        status: TaskStatus,
        *,
        force: bool = False,
        message: str | None = None,
        reason: str | None = None,
    ) -> None:
        self._record = self._backend.set_status(
            self.id, status.value, message=message or "", reason=reason or "", force=force
        )

    def wait_for_status(
        self,
        status: Iterable[str] = (TaskStatus.completed.value, TaskStatus.stopped.value),
        raise_on_status: Iterable[str] | None = (TaskStatus.failed.value,),
        check_interval_sec: float = 60.0,
        timeout: float | None = None,
    ) -> None:
        """Block until the task reaches one of `status`; StatusError on `raise_on_status`.

        Polls quickly at first (from 50 ms, doubling up to `check_interval_sec`)."""
        wanted, failing = {str(s) for s in status}, {str(s) for s in raise_on_status or ()}
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.05
        while True:
            current_status = self.get_status()
            if current_status in failing:
                raise StatusError(f"task {self.id} ended {current_status}: {self._record.status_reason}")
            if current_status in wanted:
                return
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"task {self.id} still {current_status} after {timeout} s")
            time.sleep(delay)
            delay = min(delay * 2, max(check_interval_sec, 0.05))

    def reset(self, set_started_on_success: bool = False, force: bool = False) -> None:
        """Back to draft: artifacts, output models, metrics and console are deleted."""
        if force and self.get_status() == TaskStatus.in_progress.value:
            self._set_status(TaskStatus.stopped, force=True)
        self._uploads.wait()
        self._channels.flush()
        self._record = self._backend.reset_task(self.id)
        if set_started_on_success:
            self.mark_started()

    def delete(
        self, delete_artifacts_and_models: bool = True, skip_models_used_by_other_tasks: bool = True
    ) -> bool:
        ending.detach(self)
        self._backend.delete_task(self.id)
        return True

    def close(self) -> None:
        """Flush everything; a task this process started becomes completed (or failed when a
        background upload failed, which is then raised as StorageError)."""
        ending.finish(self, TaskStatus.completed.value, raise_errors=True)

    # ------------------------------------------------------------------ logger, artifacts, models

    def get_logger(self) -> Logger:
        return Logger.of(self)

    def upload_artifact(
        self,
        name: str,
        artifact_object: Any,
        metadata: Mapping[str, Any] | None = None,
        delete_after_upload: bool = False,
        auto_pickle: bool | None = None,
        preview: Any = None,
        wait_on_upload: bool = False,
        extension_name: str | None = None,
        serialization_function: Callable[[Any], bytes] | None = None,
        retries: int = 0,
        sort_keys: bool = True,
    ) -> bool:
        """Store an object as artifact `name` (in the background unless `wait_on_upload`).

        The object is copied first when it is a container or an array, so changing it right
        after this call does not change what is stored."""
        how = ArtifactOptions(
            metadata, preview, serialization_function, extension_name, retries, delete_after_upload
        )
        artifact.upload(
            self,
            name,
            artifact_object,
            how,
            auto_pickle=auto_pickle,
            wait_on_upload=wait_on_upload,
            sort_keys=sort_keys,
        )
        return True

    def register_artifact(
        self,
        name: str,
        artifact: Any,
        metadata: Mapping[str, Any] | None = None,
        uniqueness_columns: bool | Sequence[str] = True,
    ) -> None:
        """Keep the pandas DataFrame `artifact` stored as artifact `name` while it changes: it is
        uploaded now, then again at each `flush()`, `mark_completed()` and `close()` when its
        content changed. `uniqueness_columns` (True: all) are recorded in its metadata."""
        Registered.of(self).register(name, artifact, metadata, uniqueness_columns)

    def unregister_artifact(self, name: str) -> None:
        """Stop keeping `name` in sync; what was uploaded stays."""
        Registered.of(self).unregister(name)

    def get_registered_artifacts(self) -> dict[str, Any]:
        """Name -> the registered DataFrame itself."""
        return Registered.of(self).frames()

    @property
    def artifacts(self) -> dict[str, Artifact]:
        """Name -> Artifact, after this task's pending uploads finished."""
        return artifact.of_task(self)

    def delete_artifacts(self, artifact_names: Sequence[str]) -> bool:
        for artifact_name in str_list("artifact_names", artifact_names):
            self._backend.delete_artifact(self.id, artifact_name)
        return True

    @property
    def models(self) -> dict[str, list[Model]]:
        """`{"input": [Model, ...], "output": [Model, ...]}` in the order they were attached."""
        self._uploads.wait()
        found: dict[str, list[Model]] = {"input": [], "output": []}
        for link in self._backend.get_task_models(self.id):
            found.setdefault(link.role, []).append(Model._from_record(self._backend.get_model(link.model_id)))
        return found

    def execute_remotely(
        self, queue_name: str | None = None, clone: bool = False, exit_process: bool = True
    ) -> Task | None:
        """Stop running here and let an agent run the task (no-op when an agent runs us).

        The task (or with `clone=True` a clone of it) becomes a draft template: with a
        `queue_name` it is enqueued there. Then the process exits with code 0."""
        if not self.running_locally() or self._remote:
            return None
        optional_str("queue_name", queue_name)
        backend = client.backend()
        if queue_name is not None:
            backend.get_queue(queue_name)  # NotFound names a missing queue before anything changes
        self.flush(wait_for_uploads=True)
        if clone:
            # This task keeps running here (or completes when the process exits below).
            target = Task.clone(self)
            target._edit({"system_tags": [t for t in target._record.system_tags if t != DEVELOPMENT]})
        else:
            target = self
            ending.detach(self)
            self._edit({"system_tags": [t for t in self._record.system_tags if t != DEVELOPMENT]})
            self._backend.set_status(
                self.id, TaskStatus.stopped.value, force=True, message="execute_remotely"
            )
            self._record = self._backend.reset_task(self.id)
        if queue_name is not None:
            Task.enqueue(target, queue_name=queue_name)
        if exit_process:
            print(
                f"ductwork: task {target.id} handed over for remote execution; exiting",
                file=original_stdout(),
            )
            raise SystemExit(0)
        return target


def _queue_name(backend: Backend, queue_name: str | None, queue_id: str | None) -> str:
    if queue_name is not None:
        require_str("queue_name", queue_name)
        return queue_name
    if queue_id is None:
        raise ValidationError("Task.enqueue: give queue_name or queue_id")
    for queue in backend.list_queues():
        if queue.id == queue_id:
            return queue.name
    raise NotFound(f"queue id {queue_id} not found")


__all__ = ["CONSOLE_CAPTURED", "DEVELOPMENT", "FRAMEWORKS", "ConnectedDict", "Task", "TaskTypes"]
