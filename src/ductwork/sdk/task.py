"""`Task`: one tracked execution, with ClearML's public API over any ductwork backend.

The SDK only talks to `ductwork.client.backend()` (embedded store, HTTP server or a local-mode
pipe), so the same code runs in a script, under an agent and inside a pipeline step.

A few behaviours differ from ClearML on purpose:
* `Task.init` always creates a new task (history is never overwritten); `reuse_last_task_id`
  given a task id resets that task and reuses it.
* `get_parameters(cast=True)` gives back the stored Python types (an int stays an int).
* Background artifact uploads that fail make `flush`/`close` raise and the task fail.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ductwork import client
from ductwork.client.contract import Backend
from ductwork.core import settings
from ductwork.core.errors import Conflict, NotFound, StatusError, StorageError, ValidationError
from ductwork.core.records import TaskRecord, TaskTypes
from ductwork.core.states import TaskStatus
from ductwork.sdk import channels, current, losses
from ductwork.sdk.artifact import Artifact, Uploads, is_native, save_artifact, snapshot, too_big_to_copy
from ductwork.sdk.capture import arguments
from ductwork.sdk.catalog import DEFAULT_PROJECT, TaskCatalog, _user
from ductwork.sdk.checks import check_type, optional_str, output_uri_of, require_str, str_list, task_id_of
from ductwork.sdk.hyperparams import ConnectedDict
from ductwork.sdk.metrics import ReportedMetrics

if TYPE_CHECKING:
    from ductwork.sdk.capture.console import ConsoleSink
    from ductwork.sdk.capture.resources import ResourceMonitor
    from ductwork.sdk.logger import Logger
    from ductwork.sdk.model import Model

DEVELOPMENT = "development"
FRAMEWORKS = ("matplotlib", "tensorboard")
# Set to "1" by a supervisor (agent, pipeline controller) that records the process's output.
CONSOLE_CAPTURED = "DUCTWORK_CONSOLE_CAPTURED"

# argparse results are connected as soon as they are parsed, even before Task.init.
arguments.install()
_init_lock = threading.RLock()


class Task(TaskCatalog, ReportedMetrics):
    """A tracked execution. Create one with `Task.init`, `Task.create` or `Task.clone`.

    Its API is spread by theme: finding and creating (`TaskCatalog`), parameters and
    configuration (`Hyperparameters`), plain fields (`TaskFields`); running, status, artifacts
    and metrics are here."""

    TaskTypes = TaskTypes
    TaskStatusEnum = TaskStatus

    def __init__(self, record: TaskRecord, backend: Backend, *, remote: bool = False) -> None:
        self._record = record
        self._backend = backend
        self._remote = remote
        self._channels = channels.of(backend)
        self._uploads = Uploads(record.id)
        self._logger: Logger | None = None
        self._console: ConsoleSink | None = None
        self._frameworks: dict[str, bool] = {}
        self._captures_args = False
        self._owned = False  # this process started it, so close() completes it
        self._closed = False
        self._monitor: ResourceMonitor | None = None

    @classmethod
    def _wrap(cls, record: TaskRecord, backend: Backend) -> Task:
        return cls(record, backend)

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
        auto_connect_frameworks: bool | Mapping[str, Any] = True,
        auto_resource_monitoring: bool | Mapping[str, Any] = True,
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
            if existing is not None and not existing._closed:
                return existing
            return cls._init(
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

    @classmethod
    def _init(
        cls,
        project_name: str | None,
        task_name: str | None,
        task_type: str,
        tags: Sequence[str] | None,
        reuse_last_task_id: bool | str,
        continue_last_task: bool | str | int,
        output_uri: str | bool | None,
        auto_connect_arg_parser: bool | Mapping[str, bool],
        auto_connect_frameworks: bool | Mapping[str, Any],
        auto_resource_monitoring: bool | Mapping[str, Any],
        auto_connect_streams: bool | Mapping[str, bool],
    ) -> Task:
        # Every argument is checked before anything is written, so bad input leaves no task behind.
        optional_str("project_name", project_name)
        optional_str("task_name", task_name)
        check_type(task_type)
        tag_list = str_list("tags", tags)
        uri = output_uri_of(output_uri)
        streams = _switches("auto_connect_streams", auto_connect_streams, ("stdout", "stderr", "logging"))
        frameworks = _switches("auto_connect_frameworks", auto_connect_frameworks, FRAMEWORKS)
        if not isinstance(auto_connect_arg_parser, (bool, Mapping)):
            kind = type(auto_connect_arg_parser).__name__
            raise ValidationError(f"auto_connect_arg_parser must be a bool or a dict, got {kind}")
        from ductwork.sdk.capture import resources

        resources.check(auto_resource_monitoring)
        backend = client.backend()
        task_id = settings.task_id()
        if task_id:
            task = cls._attach(backend, task_id)
        elif isinstance(reuse_last_task_id, str) and reuse_last_task_id:
            task = cls._reuse(backend, reuse_last_task_id)
        elif continue_last_task is not False and continue_last_task is not None and continue_last_task != 0:
            found = cls._last_to_continue(backend, project_name, task_name, continue_last_task)
            task = found or cls._create_running(backend, project_name, task_name, task_type, tag_list, uri)
        else:
            task = cls._create_running(backend, project_name, task_name, task_type, tag_list, uri)
        task._owned = True
        task._start_capture(streams, frameworks, bool(auto_connect_arg_parser))
        task._monitor = resources.start_for(task, auto_resource_monitoring)
        current.set_main(task)
        from ductwork.sdk import lifecycle

        lifecycle.watch()
        if task._captures_args:
            arguments.connect_parsed(task)
        return task

    @classmethod
    def _create_running(
        cls,
        backend: Backend,
        project_name: str | None,
        task_name: str | None,
        task_type: str,
        tags: list[str],
        output_uri: str | None,
    ) -> Task:
        from ductwork.sdk import script

        project = backend.ensure_project(project_name or DEFAULT_PROJECT)
        described = script.describe_running()
        record = TaskRecord(
            name=task_name or _script_name(described),
            project=project.id,
            type=task_type,
            tags=tags,
            system_tags=[DEVELOPMENT],
            user=_user(),
            script=described,
            output_uri=output_uri,
            status=TaskStatus.in_progress.value,  # created running: one write, its start time set
        )
        task = cls(backend.create_task(record), backend)
        folder = script.code_folder()
        if folder:
            task._uploads.submit("script:git", lambda: task._record_git(folder), "git state of the script")
        return task

    def _record_git(self, folder: str) -> None:
        from ductwork.sdk import script

        state = script.git_state(folder)
        if state:
            merged = {**self._backend.get_task(self.id).script, **state}
            self._record = self._backend.edit_task(self.id, {"script": merged})

    @classmethod
    def _attach(cls, backend: Backend, task_id: str) -> Task:
        record = backend.get_task(task_id)
        if record.status in (TaskStatus.created.value, TaskStatus.queued.value):
            record = backend.set_status(task_id, TaskStatus.in_progress.value)
        return cls(record, backend, remote=True)

    @classmethod
    def _reuse(cls, backend: Backend, task_id: str) -> Task:
        backend.reset_task(task_id)
        return cls(backend.set_status(task_id, TaskStatus.in_progress.value), backend)

    @classmethod
    def _last_to_continue(
        cls, backend: Backend, project_name: str | None, task_name: str | None, which: bool | str | int
    ) -> Task | None:
        """The task `continue_last_task` names (an id, or the newest of this name), running again."""
        if isinstance(which, str):
            record = backend.get_task(which)
        else:
            found = cls._query(
                backend, project_name or DEFAULT_PROJECT, task_name, None, True, None, exact=True, limit=1
            )
            if not found:
                return None
            record = found[0]
        if record.status != TaskStatus.in_progress.value:
            record = backend.set_status(record.id, TaskStatus.in_progress.value, force=True)
        return cls(record, backend)

    @classmethod
    def _from_record(cls, record: TaskRecord, *, remote: bool = False) -> Task:
        """A Task over an existing record (for the pipeline engine); `remote=True` makes
        `connect()` pull values from the backend, as under an agent. While it is current (see
        `_activate`) what this context prints goes to its console."""
        task = cls(record, client.backend(), remote=remote)
        if os.environ.get(CONSOLE_CAPTURED) != "1":
            from ductwork.sdk.capture import console

            task._console = console.attach(task, task._channels.console, frozenset({"stdout", "stderr"}))
        return task

    @staticmethod
    @contextmanager
    def _activate(task: Task) -> Iterator[Task]:
        """Make `task` the current task of this context (thread / asyncio task) for the block."""
        with current.activate(task):
            yield task

    @classmethod
    def current_task(cls) -> Task | None:
        return current.get()

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
    ) -> Any:
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
        self._detach()
        self._backend.delete_task(self.id)
        return True

    def close(self) -> None:
        """Flush everything; a task this process started becomes completed (or failed when a
        background upload failed, which is then raised as StorageError)."""
        self._finish(TaskStatus.completed.value, raise_errors=True)

    def flush(self, wait_for_uploads: bool = False) -> bool:
        """Send reported metrics and console lines; wait for uploads when asked (errors raise)."""
        if self._console is not None:
            self._console.end_lines()
        self._channels.flush()
        if wait_for_uploads:
            self._uploads.wait()
        return True

    def _finish(
        self, status: str, *, message: str = "", reason: str = "", raise_errors: bool = False
    ) -> None:
        if self._closed:
            return
        errors: list[Exception] = []
        try:
            self._uploads.wait()
        except StorageError as exc:
            errors.append(exc)
        if self._console is not None:
            self._console.end_lines()
        try:
            self._channels.flush()
        except Exception as exc:
            errors.append(exc)
        lost = losses.summary(self.id)
        if lost:
            # What could not be stored is on the task, and it does not end as if nothing happened.
            # A full disk refuses these closing writes too: the embedded store's reserve makes room.
            release = getattr(self._backend, "release_reserve", None)
            if release is not None:
                release()
            self._note_losses()
            if status == TaskStatus.completed.value:
                status, message, reason = TaskStatus.failed.value, lost, losses.causes(self.id)
            else:
                message = f"{message}; {lost}" if message else lost
                reason = f"{reason}\n{losses.causes(self.id)}"
        elif errors and status == TaskStatus.completed.value:
            status, message, reason = TaskStatus.failed.value, "upload failed", "; ".join(map(str, errors))
        if self._owned:
            self._end_running(status, message, reason)
        self._detach()
        if raise_errors and (errors or lost):
            losses.raised(self.id)
            raise errors[0] if errors else StorageError(f"task {self.id}: {lost}: {losses.causes(self.id)}")
        losses.silent(self.id)  # nobody was told by an exception: the exit status will say it

    def _note_losses(self) -> None:
        try:
            runtime = self._backend.get_task(self.id).runtime
            self._edit({"runtime": {**runtime, **losses.as_properties(self.id)}})
        except Exception as exc:  # the store may be what failed (a full disk): stderr still says it
            from ductwork.sdk.capture.console import original_stderr

            print(f"ductwork: cannot record the losses on task {self.id}: {exc}", file=original_stderr())

    def _end_running(self, status: str, message: str, reason: str) -> None:
        """Move from in_progress only: an agent or the UI may already have stopped the task."""
        try:
            self._record = self._backend.set_status(
                self.id, status, message=message, reason=reason, expect=[TaskStatus.in_progress.value]
            )
        except (Conflict, StatusError):
            self.reload()

    def _detach(self) -> None:
        self._closed = True
        if self._monitor is not None:
            self._monitor.stop()
            self._monitor = None
        if self._console is not None:
            self._console.end_lines()
        self._console = None
        self._frameworks = {}
        self._captures_args = False
        current.forget(self)

    # ------------------------------------------------------------------ capture

    def _start_capture(self, streams: dict[str, bool], frameworks: dict[str, bool], arg_parser: bool) -> None:
        from ductwork.sdk.capture import console

        chosen = frozenset(name for name in ("stdout", "stderr", "logging") if streams[name])
        # A supervisor (agent, pipeline controller) that records our output itself says so,
        # and we do not record it twice.
        if chosen and os.environ.get(CONSOLE_CAPTURED) != "1":
            self._console = console.attach(self, self._channels.console, chosen)
        self._frameworks = frameworks
        self._captures_args = arg_parser
        if self._frameworks["matplotlib"]:
            from ductwork.sdk.capture import matplotlib as mpl_capture

            mpl_capture.enable()
        if self._frameworks["tensorboard"]:
            from ductwork.sdk.capture import tensorboard

            tensorboard.enable()

    def _captures(self, framework: str) -> bool:
        return self._frameworks.get(framework, False)

    def get_logger(self) -> Logger:
        if self._logger is None:
            from ductwork.sdk.logger import Logger

            self._logger = Logger(self)
        return self._logger

    # ------------------------------------------------------------------ artifacts and models

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
        require_str("name", name)
        if not name.strip():
            raise ValidationError(f"upload_artifact: artifact name must not be empty (task {self.id})")
        if metadata is not None and not isinstance(metadata, Mapping):
            raise ValidationError(
                f"upload_artifact({name!r}): metadata must be a dict, got {type(metadata).__name__}"
            )
        if serialization_function is not None and not callable(serialization_function):
            raise ValidationError(f"upload_artifact({name!r}): serialization_function must be callable")
        if not isinstance(retries, int) or retries < 0:
            raise ValidationError(f"upload_artifact({name!r}): retries must be an int >= 0, got {retries!r}")
        if auto_pickle is False and serialization_function is None and not is_native(artifact_object):
            raise ValidationError(
                f"upload_artifact({name!r}): {type(artifact_object).__name__} needs pickling, "
                "but auto_pickle=False"
            )
        if sort_keys and isinstance(artifact_object, dict):
            artifact_object = _sorted_dict(artifact_object)
        backend, task_id, uri = self._backend, self.id, self.output_uri

        def upload(obj: Any) -> None:
            save_artifact(
                backend,
                task_id,
                uri,
                name,
                obj,
                metadata=metadata,
                preview=preview,
                serialization_function=serialization_function,
                extension_name=extension_name,
                retries=retries,
                delete_after_upload=delete_after_upload,
            )

        if wait_on_upload or too_big_to_copy(artifact_object):
            # A big array is written now rather than copied, so memory stays one object's worth.
            self._uploads.wait_for(name)
            upload(artifact_object)
        else:
            obj = snapshot(artifact_object)
            self._uploads.submit(f"artifact:{name}", lambda: upload(obj), f"artifact {name!r}")
        return True

    @property
    def artifacts(self) -> dict[str, Artifact]:
        """Name -> Artifact, after this task's pending uploads finished."""
        self._uploads.wait()
        return {
            record.name: Artifact(record, self.output_uri, self._backend)
            for record in self._backend.get_artifacts(self.id)
        }

    def delete_artifacts(self, artifact_names: Sequence[str]) -> bool:
        for artifact_name in str_list("artifact_names", artifact_names):
            self._backend.delete_artifact(self.id, artifact_name)
        return True

    @property
    def models(self) -> dict[str, list[Model]]:
        """`{"input": [Model, ...], "output": [Model, ...]}` in the order they were attached."""
        from ductwork.sdk.model import Model

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
            self._detach()
            self._edit({"system_tags": [t for t in self._record.system_tags if t != DEVELOPMENT]})
            self._backend.set_status(
                self.id, TaskStatus.stopped.value, force=True, message="execute_remotely"
            )
            self._record = self._backend.reset_task(self.id)
        if queue_name is not None:
            Task.enqueue(target, queue_name=queue_name)
        if exit_process:
            from ductwork.sdk.capture.console import original_stdout

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


def _switches(what: str, value: Any, names: Sequence[str]) -> dict[str, bool]:
    if isinstance(value, bool):
        return dict.fromkeys(names, value)
    if isinstance(value, Mapping):
        # Named switches not given stay on, as ClearML does; other frameworks are accepted and ignored.
        return {name: bool(value.get(name, True)) for name in names}
    raise ValidationError(f"{what} must be a bool or a dict of switches, got {type(value).__name__}")


def _sorted_dict(values: dict[Any, Any]) -> dict[Any, Any]:
    try:
        return dict(sorted(values.items()))
    except TypeError:  # keys of mixed types: keep the given order
        return values


def _script_name(script: Mapping[str, Any]) -> str:
    entry = script.get("entry_point")
    return Path(entry).stem if entry else "interactive"


__all__ = ["ConnectedDict", "Task", "TaskTypes"]
