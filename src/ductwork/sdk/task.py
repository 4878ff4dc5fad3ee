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

import argparse
import getpass
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ductwork import client
from ductwork.client.contract import Backend
from ductwork.core import settings
from ductwork.core.errors import Conflict, NotFound, StatusError, StorageError, ValidationError
from ductwork.core.queries import EventQuery, TaskQuery
from ductwork.core.records import ConfigObject, Param, TaskRecord, TaskTypes
from ductwork.core.states import FINAL, TaskStatus
from ductwork.sdk import channels, current, params
from ductwork.sdk.artifact import Artifact, Uploads, is_native, save_artifact, snapshot
from ductwork.sdk.capture import arguments
from ductwork.sdk.configuration import config_from_object, config_to_object

if TYPE_CHECKING:
    from ductwork.sdk.capture.console import ConsoleSink
    from ductwork.sdk.logger import Logger
    from ductwork.sdk.model import Model

DEFAULT_PROJECT = "default"
DEVELOPMENT = "development"
FRAMEWORKS = ("matplotlib", "tensorboard")
_PROPERTIES = "properties"
# Set to "1" by a supervisor (agent, pipeline controller) that records the process's output.
CONSOLE_CAPTURED = "DUCTWORK_CONSOLE_CAPTURED"

# argparse results are connected as soon as they are parsed, even before Task.init.
arguments.install()


class Task:
    """A tracked execution. Create one with `Task.init`, `Task.create` or `Task.clone`."""

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
        when `DUCTWORK_TASK_ID` is set (an agent or a pipeline runs us), that task."""
        existing = current.main_task()
        if existing is not None and not existing._closed:
            return existing
        _optional_str("project_name", project_name)
        _optional_str("task_name", task_name)
        _check_type(task_type)
        tag_list = _str_list("tags", tags)
        uri = _output_uri(output_uri)
        backend = client.backend()
        task_id = settings.task_id()
        if task_id:
            task = cls._attach(backend, task_id)
        elif isinstance(reuse_last_task_id, str) and reuse_last_task_id:
            task = cls._reuse(backend, reuse_last_task_id)
        elif continue_last_task is not False and continue_last_task is not None and continue_last_task != 0:
            task = cls._continue(backend, project_name, task_name, continue_last_task)
        else:
            task = cls._create_running(backend, project_name, task_name, task_type, tag_list, uri)
        task._owned = True
        task._start_capture(auto_connect_streams, auto_connect_frameworks, auto_connect_arg_parser)
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
        )
        record = backend.create_task(record)
        record = backend.set_status(record.id, TaskStatus.in_progress.value)
        task = cls(record, backend)
        folder = described.get("working_dir")
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
    def _continue(
        cls, backend: Backend, project_name: str | None, task_name: str | None, which: bool | str | int
    ) -> Task:
        if isinstance(which, str):
            record = backend.get_task(which)
        else:
            found = cls._query(
                backend, project_name or DEFAULT_PROJECT, task_name, None, True, None, exact=True, limit=1
            )
            if not found:
                task = cls._create_running(backend, project_name, task_name, TaskTypes.training, [], None)
                return task
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
    def get_task(
        cls,
        task_id: str | None = None,
        project_name: str | None = None,
        task_name: str | None = None,
        tags: Sequence[str] | None = None,
        allow_archived: bool = True,
        task_filter: Mapping[str, Any] | None = None,
    ) -> Task:
        """A task by id, or the newest task named `task_name` in `project_name`."""
        backend = client.backend()
        if task_id is not None:
            _require_str("task_id", task_id)
            return cls(backend.get_task(task_id), backend)
        if project_name is None and task_name is None:
            raise ValidationError("Task.get_task: give task_id, or project_name and/or task_name")
        found = cls._query(
            backend, project_name, task_name, tags, allow_archived, task_filter, exact=True, limit=1
        )
        if not found:
            raise NotFound(f"no task named {task_name!r} in project {project_name!r}")
        return cls(found[0], backend)

    @classmethod
    def get_tasks(
        cls,
        task_ids: Sequence[str] | None = None,
        project_name: str | Sequence[str] | None = None,
        task_name: str | None = None,
        tags: Sequence[str] | None = None,
        allow_archived: bool = True,
        task_filter: Mapping[str, Any] | None = None,
    ) -> list[Task]:
        """Tasks by ids, or matching project and name (`task_name` is a regular expression)."""
        backend = client.backend()
        if task_ids is not None:
            return [cls(record, backend) for record in backend.get_tasks(_str_list("task_ids", task_ids))]
        records: list[TaskRecord] = []
        for project in _projects(project_name):
            records += cls._query(backend, project, task_name, tags, allow_archived, task_filter, exact=False)
        return [cls(record, backend) for record in records]

    @classmethod
    def query_tasks(
        cls,
        project_name: str | Sequence[str] | None = None,
        task_name: str | None = None,
        tags: Sequence[str] | None = None,
        additional_return_fields: Sequence[str] | None = None,
        task_filter: Mapping[str, Any] | None = None,
    ) -> list[str] | list[dict[str, Any]]:
        """Ids of matching tasks; with `additional_return_fields`, dicts of `id` and those fields."""
        backend = client.backend()
        records: list[TaskRecord] = []
        for project in _projects(project_name):
            records += cls._query(backend, project, task_name, tags, True, task_filter, exact=False)
        if not additional_return_fields:
            return [record.id for record in records]
        fields = _str_list("additional_return_fields", additional_return_fields)
        unknown = [name for name in fields if not hasattr(TaskRecord(), name)]
        if unknown:
            raise ValidationError(f"Task.query_tasks: unknown additional_return_fields {unknown}")
        return [{"id": r.id, **{name: getattr(r, name) for name in fields}} for r in records]

    @classmethod
    def _query(
        cls,
        backend: Backend,
        project_name: str | None,
        task_name: str | None,
        tags: Sequence[str] | None,
        allow_archived: bool,
        task_filter: Mapping[str, Any] | None,
        *,
        exact: bool,
        limit: int | None = None,
    ) -> list[TaskRecord]:
        _optional_str("project_name", project_name)
        _optional_str("task_name", task_name)
        query = TaskQuery(tags=_str_list("tags", tags) or None, archived=None if allow_archived else False)
        if project_name is not None:
            if backend.find_project(project_name) is None:
                return []
            query.project_name = project_name
        if task_name is not None:
            if exact:
                query.name = task_name
            else:
                query.name_pattern = task_name
        _apply_filter(query, task_filter or {})
        if limit is not None:
            query.limit = limit
        return backend.query_tasks(query)

    @classmethod
    def create(
        cls,
        project_name: str | None = None,
        task_name: str | None = None,
        task_type: str | None = None,
        repo: str | None = None,
        branch: str | None = None,
        commit: str | None = None,
        script: str | None = None,
        working_directory: str | None = None,
        packages: bool | Sequence[str] | None = None,
        requirements_file: str | Path | None = None,
        docker: str | None = None,
        docker_args: str | None = None,
        docker_bash_setup_script: str | None = None,
        argparse_args: Sequence[tuple[str, Any]] | None = None,
        base_task_id: str | None = None,
        add_task_init_call: bool = True,
        force_single_script_file: bool = False,
        binary: str | None = None,
        module: str | None = None,
        detect_repository: bool = True,
    ) -> Task:
        """A draft task (status created) to run a script or module later, e.g. by an agent."""
        from ductwork.sdk import script as scripts

        _optional_str("project_name", project_name)
        _optional_str("task_name", task_name)
        if task_type is not None:
            _check_type(task_type)
        if script is not None and module is not None:
            raise ValidationError("Task.create: give script or module, not both")
        backend = client.backend()
        if base_task_id is not None:
            base = backend.get_task(base_task_id)
            project = backend.ensure_project(project_name).id if project_name else base.project
            record = backend.clone_task(base_task_id, name=task_name or base.name, project=project)
        else:
            project = backend.ensure_project(project_name or DEFAULT_PROJECT).id
            record = backend.create_task(
                TaskRecord(name=task_name or _name_of(script, module), project=project, user=_user())
            )
        task = cls(record, backend)
        changes: dict[str, Any] = {}
        if task_type is not None:
            changes["type"] = task_type
        new_script = dict(record.script)
        if script is not None:
            new_script.update(scripts.from_file(script, working_directory, add_task_init_call))
        elif working_directory is not None:
            new_script["working_dir"] = working_directory
        if module is not None:
            new_script["module"] = module
        for key, value in (("repository", repo), ("branch", branch), ("commit", commit), ("binary", binary)):
            if value is not None:
                new_script[key] = value
        if new_script != record.script:
            changes["script"] = new_script
        if changes:
            task._edit(changes)
        if packages is not None or requirements_file is not None:
            task.set_packages(requirements_file if requirements_file is not None else packages)
        if docker or docker_args or docker_bash_setup_script:
            task.set_base_docker(
                docker_image=docker,
                docker_arguments=docker_args,
                docker_setup_bash_script=docker_bash_setup_script,
            )
        if argparse_args:
            task.update_parameters({f"Args/{key}": value for key, value in argparse_args})
        return task

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
        source = _task_id("source_task", source_task if source_task is not None else current.get())
        backend = client.backend()
        original = backend.get_task(source)
        record = backend.clone_task(
            source,
            name=name if name is not None else f"Clone Of {original.name}",
            project=project,
            parent=parent if parent is not None else (original.parent or original.id),
        )
        task = cls(record, backend)
        if comment is not None:
            task.set_comment(comment)
        return task

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
        task_id = _task_id("task", task)
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
        backend.dequeue(_task_id("task", task))
        if isinstance(task, Task):
            task.reload()

    @staticmethod
    def running_locally() -> bool:
        """False when an agent or a pipeline runs this process (`DUCTWORK_TASK_ID` is set)."""
        return settings.task_id() is None

    # ------------------------------------------------------------------ properties

    @property
    def id(self) -> str:
        return self._record.id

    @property
    def name(self) -> str:
        return self._record.name

    @name.setter
    def name(self, value: str) -> None:
        self.set_name(value)

    def set_name(self, name: str) -> None:
        _require_str("name", name)
        self._edit({"name": name})

    @property
    def status(self) -> str:
        return self._record.status

    @property
    def project(self) -> str | None:
        return self._record.project

    @property
    def task_type(self) -> str:
        return self._record.type

    @property
    def parent(self) -> str | None:
        return self._record.parent

    @property
    def data(self) -> TaskRecord:
        return self._record

    @property
    def output_uri(self) -> str | None:
        return self._record.output_uri

    @output_uri.setter
    def output_uri(self, value: str | bool | None) -> None:
        self._edit({"output_uri": _output_uri(value)})

    @property
    def comment(self) -> str:
        return self._record.comment

    @comment.setter
    def comment(self, value: str) -> None:
        self.set_comment(value)

    def set_comment(self, comment: str) -> None:
        _require_str("comment", comment)
        self._edit({"comment": comment})

    def get_project_name(self) -> str | None:
        if self._record.project is None:
            return None
        return self._backend.get_project(self._record.project).name

    def get_project_id(self) -> str | None:
        return self._record.project

    def reload(self) -> Task:
        self._record = self._backend.get_task(self.id)
        return self

    def get_status(self) -> str:
        return self.reload().status

    def __repr__(self) -> str:
        return f"<Task {self.id} {self.name!r} {self.status}>"

    # ------------------------------------------------------------------ status

    def mark_started(self, force: bool = False) -> None:
        self._set_status(TaskStatus.in_progress, force=force)
        self._owned = True

    def mark_completed(
        self, ignore_errors: bool = True, status_message: str | None = None, force: bool = False
    ) -> None:
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
        if errors and status == TaskStatus.completed.value:
            status, message, reason = TaskStatus.failed.value, "upload failed", "; ".join(map(str, errors))
        if self._owned:
            self._end_running(status, message, reason)
        self._detach()
        if errors and raise_errors:
            raise errors[0]

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
        if self._console is not None:
            self._console.end_lines()
        self._console = None
        self._frameworks = {}
        self._captures_args = False
        current.forget(self)

    # ------------------------------------------------------------------ capture

    def _start_capture(
        self,
        streams: bool | Mapping[str, bool],
        frameworks: bool | Mapping[str, Any],
        arg_parser: bool | Mapping[str, bool],
    ) -> None:
        from ductwork.sdk.capture import console

        wanted = _switches("auto_connect_streams", streams, ("stdout", "stderr", "logging"))
        chosen = frozenset(name for name in ("stdout", "stderr") if wanted[name])
        # A supervisor (agent, pipeline controller) that records our output itself says so,
        # and we do not record it twice.
        if chosen and os.environ.get(CONSOLE_CAPTURED) != "1":
            self._console = console.attach(self, self._channels.console, chosen)
        self._frameworks = _switches("auto_connect_frameworks", frameworks, FRAMEWORKS)
        self._captures_args = bool(arg_parser)
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

    # ------------------------------------------------------------------ parameters

    def connect(self, mutable: Any, name: str | None = None, ignore_remote_overrides: bool = False) -> Any:
        """Connect a dict, an argparse Namespace, an object (its public attributes) or a model.

        Running locally the values are written to the task (section `name`, default `General`,
        `Args` for a Namespace). Run by an agent or a pipeline, the task's values replace the
        local ones, cast to the local types. A dict comes back as a dict whose later changes are
        written to the task too."""
        from ductwork.sdk.model import InputModel, OutputModel

        if isinstance(mutable, (InputModel, OutputModel)):
            mutable.connect(self, name)
            return mutable
        if isinstance(mutable, argparse.Namespace):
            self._connect_namespace(mutable, _section(name or arguments.SECTION), {}, ignore_remote_overrides)
            return mutable
        section = _section(name or params.DEFAULT_SECTION)
        if isinstance(mutable, dict):
            return self._connect_dict(mutable, section, ignore_remote_overrides)
        if mutable is None or isinstance(mutable, (str, bytes, int, float, list, tuple, set)):
            raise ValidationError(
                f"connect: mutable must be a dict, an argparse Namespace, an object or a model, "
                f"got {type(mutable).__name__}"
            )
        self._connect_object(mutable, section, ignore_remote_overrides)
        return mutable

    def _connect_dict(self, values: dict[str, Any], section: str, keep_local: bool = False) -> ConnectedDict:
        flat = params.flatten(values)
        merged = self._sync(section, flat, {}, keep_local)
        if merged != flat:
            values.clear()
            values.update(params.unflatten(merged))
        return ConnectedDict(self, section, values)

    def _connect_namespace(
        self,
        namespace: argparse.Namespace,
        section: str,
        types: Mapping[str, Callable[[str], Any]],
        keep_local: bool = False,
    ) -> None:
        local = {key: value for key, value in vars(namespace).items() if not key.startswith("_")}
        for key, value in self._sync(section, local, types, keep_local).items():
            setattr(namespace, key, value)

    def _connect_object(self, obj: Any, section: str, keep_local: bool = False) -> None:
        local = _public_attributes(obj)
        for key, value in self._sync(section, local, {}, keep_local).items():
            if local.get(key, _NOTHING) is not value:
                setattr(obj, key, value)

    def _sync(
        self,
        section: str,
        local: dict[str, Any],
        types: Mapping[str, Callable[[str], Any]],
        keep_local: bool,
    ) -> dict[str, Any]:
        """Write `local` (running locally) or read the section back over it (run remotely)."""
        if not self._remote or keep_local:
            self._write_params({f"{section}/{key}": params.to_param(value) for key, value in local.items()})
            return local
        stored = {
            key.partition("/")[2]: param
            for key, param in self._backend.get_parameters(self.id).items()
            if key.partition("/")[0] == section
        }
        merged = dict(local)
        for key, param in stored.items():
            label = f"{section}/{key}"
            template = local.get(key)
            if template is None and isinstance(param.value, str) and key in types:
                try:
                    merged[key] = types[key](param.value)
                except Exception as exc:
                    raise ValidationError(f"{label}: cannot read {param.value!r}: {exc}") from None
            elif template is None:
                merged[key] = params.cast_param(param, name=label)
            else:
                merged[key] = params.cast_like(param.value, template, name=label)
        missing = {
            f"{section}/{key}": params.to_param(value) for key, value in local.items() if key not in stored
        }
        if missing:
            self._write_params(missing)
        return merged

    def _write_params(self, values: dict[str, Param], *, replace: bool = False) -> None:
        self._backend.set_parameters(self.id, values, replace=replace)

    def get_parameters(self, backwards_compatibility: bool = True, cast: bool = False) -> dict[str, Any]:
        """`{"Section/name": value}`: strings (as ClearML shows them) unless `cast=True`."""
        stored = self._backend.get_parameters(self.id)
        if cast:
            return {key: params.cast_param(param, name=key) for key, param in stored.items()}
        return {key: params.to_text(param.value) for key, param in stored.items()}

    def get_parameters_as_dict(self, cast: bool = False) -> dict[str, Any]:
        """`{section: {name: value}}` (names with `/` nest further)."""
        nested: dict[str, Any] = {}
        for key, value in self.get_parameters(cast=cast).items():
            section, _, name = key.partition("/")
            nested.setdefault(section, {})[name] = value
        return {section: params.unflatten(values) for section, values in nested.items()}

    def get_parameter(self, name: str, default: Any = None, cast: bool = False) -> Any:
        key = params.full_key(name)
        param = self._backend.get_parameters(self.id).get(key)
        if param is None:
            return default
        return params.cast_param(param, name=key) if cast else params.to_text(param.value)

    def set_parameters(self, *args: Mapping[str, Any], **kwargs: Any) -> None:
        """Replace all parameters with these (`Section/name` keys; bare names go to `General`)."""
        update = bool(kwargs.pop("__update", False))
        self._write_params(_as_params(_merged_args(args, kwargs)), replace=not update)

    def update_parameters(self, *args: Mapping[str, Any], **kwargs: Any) -> None:
        """Add or change these parameters, keeping the others."""
        self._write_params(_as_params(_merged_args(args, kwargs)))

    def set_parameter(
        self, name: str, value: Any, description: str | None = None, value_type: Any = None
    ) -> None:
        type_hint = value_type if isinstance(value_type, str) or value_type is None else value_type.__name__
        self._write_params({params.full_key(name): params.to_param(value, description or "", type_hint)})

    def delete_parameter(self, name: str) -> bool:
        key = params.full_key(name)
        stored = self._backend.get_parameters(self.id)
        if key not in stored:
            return False
        del stored[key]
        self._write_params(stored, replace=True)
        return True

    def set_user_properties(self, *iterables: Any, **properties: Any) -> bool:
        """Properties shown with the task (section `properties`): `name=value` pairs, or dicts
        `{"name": ..., "value": ..., "description": ...}`, or `(name, value)` pairs."""
        values: dict[str, Param] = {}
        for item in iterables:
            entries = item if isinstance(item, (list, tuple)) and not _is_pair(item) else [item]
            for entry in entries:
                if isinstance(entry, Mapping) and "name" in entry:
                    values[f"{_PROPERTIES}/{entry['name']}"] = params.to_param(
                        entry.get("value"), str(entry.get("description", ""))
                    )
                elif isinstance(entry, Mapping):
                    for key, value in entry.items():
                        values[f"{_PROPERTIES}/{key}"] = params.to_param(value)
                elif _is_pair(entry):
                    values[f"{_PROPERTIES}/{entry[0]}"] = params.to_param(entry[1])
                else:
                    raise ValidationError(f"set_user_properties: cannot read a property from {entry!r}")
        for key, value in properties.items():
            values[f"{_PROPERTIES}/{key}"] = params.to_param(value)
        self._write_params(values)
        return True

    def get_user_properties(self, value_only: bool = False) -> dict[str, Any]:
        found = {
            key.partition("/")[2]: param
            for key, param in self._backend.get_parameters(self.id).items()
            if key.startswith(f"{_PROPERTIES}/")
        }
        if value_only:
            return {name: param.value for name, param in found.items()}
        return {
            name: {"name": name, "value": param.value, "type": param.type, "description": param.description}
            for name, param in found.items()
        }

    def delete_user_properties(self, *names: str) -> bool:
        stored = self._backend.get_parameters(self.id)
        keys = {f"{_PROPERTIES}/{name}" for name in names}
        if not keys & stored.keys():
            return False
        self._write_params({k: v for k, v in stored.items() if k not in keys}, replace=True)
        return True

    # ------------------------------------------------------------------ configuration

    def connect_configuration(
        self, configuration: Any, name: str | None = None, description: str | None = None
    ) -> Any:
        """Connect a configuration: a dict or list, a path to a file, or text.

        Locally it is stored; run remotely the stored one is returned (a dict/list is updated in
        place, a file comes back as a local path holding the stored text)."""
        name = _config_name(name)
        if self._remote:
            stored = self._backend.get_configurations(self.id).get(name)
            if stored is not None:
                return config_to_object(configuration, stored, name, self.id)
        self._backend.set_configuration(
            self.id, name, config_from_object(configuration, description or "", name)
        )
        return configuration

    def set_configuration_object(
        self,
        name: str,
        config_text: str | None = None,
        description: str | None = None,
        config_type: str | None = None,
        config_dict: Mapping[str, Any] | Sequence[Any] | None = None,
    ) -> None:
        name = _config_name(name)
        if (config_text is None) == (config_dict is None):
            raise ValidationError(f"set_configuration_object({name!r}): give config_text or config_dict")
        if config_dict is not None:
            config = config_from_object(config_dict, description or "", name)
        else:
            _require_str("config_text", config_text)
            config = ConfigObject(
                text=config_text or "", type=config_type or "text", description=description or ""
            )
        if config_type:
            config.type = config_type
        self._backend.set_configuration(self.id, name, config)

    def get_configuration_object(self, name: str) -> str | None:
        stored = self._backend.get_configurations(self.id).get(_config_name(name))
        return None if stored is None else stored.text

    def get_configuration_object_as_dict(self, name: str) -> Any:
        from ductwork.sdk.configuration import parse_text

        stored = self._backend.get_configurations(self.id).get(_config_name(name))
        return None if stored is None else parse_text(stored.text, name, self.id)

    def get_configuration_objects(self) -> dict[str, str]:
        return {name: config.text for name, config in self._backend.get_configurations(self.id).items()}

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
        _require_str("name", name)
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

        if wait_on_upload:
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
            record.name: Artifact(record, self.output_uri) for record in self._backend.get_artifacts(self.id)
        }

    def delete_artifacts(self, artifact_names: Sequence[str]) -> bool:
        for artifact_name in _str_list("artifact_names", artifact_names):
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

    # ------------------------------------------------------------------ metrics

    def get_reported_scalars(self, max_samples: int = 0, x_axis: str = "iter") -> dict[str, Any]:
        """`{title: {series: {"x": [...], "y": [...]}}}`; `x_axis` "iter" or "timestamp"."""
        if x_axis not in ("iter", "timestamp"):
            raise ValidationError(
                f"get_reported_scalars: x_axis must be 'iter' or 'timestamp', got {x_axis!r}"
            )
        self.flush()
        result: dict[str, dict[str, dict[str, list[Any]]]] = {}
        for event in self._backend.get_events(EventQuery(task_id=self.id, kind="scalar")):
            series = result.setdefault(event.title, {}).setdefault(event.series, {"x": [], "y": []})
            series["x"].append(event.iteration if x_axis == "iter" else event.ts)
            series["y"].append(event.value)
        if max_samples and max_samples > 0:
            for by_series in result.values():
                for name, points in by_series.items():
                    by_series[name] = _downsample(points, max_samples)
        return result

    def get_reported_single_values(self) -> dict[str, float | None]:
        self.flush()
        events = self._backend.get_events(EventQuery(task_id=self.id, kind="single"))
        return {event.series: event.value for event in events}

    def get_reported_console_output(self, number_of_reports: int = 1) -> list[str]:
        """The last console lines of the task (newest last)."""
        self.flush()
        lines = self._backend.get_console(self.id)
        return [line.text for line in lines[-max(1, number_of_reports) * 100 :]]

    # ------------------------------------------------------------------ tags, fields, properties

    def add_tags(self, tags: str | Sequence[str]) -> None:
        new = _str_list("tags", [tags] if isinstance(tags, str) else tags)
        self._edit({"tags": _union(self.reload()._record.tags, new)})

    def get_tags(self) -> list[str]:
        return list(self.reload()._record.tags)

    def set_tags(self, tags: Sequence[str]) -> None:
        self._edit({"tags": _str_list("tags", tags)})

    def get_system_tags(self) -> list[str]:
        return list(self.reload()._record.system_tags)

    def set_system_tags(self, tags: Sequence[str]) -> None:
        self._edit({"system_tags": _str_list("tags", tags)})

    def set_archived(self, archive: bool) -> None:
        if not isinstance(archive, bool):
            raise ValidationError(f"set_archived: archive must be a bool, got {type(archive).__name__}")
        self._edit({"archived": archive})

    def get_archived(self) -> bool:
        return self.reload()._record.archived

    def set_parent(self, parent: Task | str | None) -> None:
        parent_id = None if parent is None else _task_id("parent", parent)
        if parent_id == self.id:
            raise ValidationError(f"task {self.id} cannot be its own parent")
        if parent_id is not None:
            self._backend.get_task(parent_id)  # NotFound names it
        self._edit({"parent": parent_id})

    def set_progress(self, progress: int) -> None:
        if isinstance(progress, bool) or not isinstance(progress, (int, float)) or not 0 <= progress <= 100:
            raise ValidationError(f"set_progress: progress must be a number 0..100, got {progress!r}")
        self._edit({"progress": int(progress)})

    def get_progress(self) -> int:
        return self.reload()._record.progress

    def set_task_type(self, task_type: str) -> None:
        _check_type(task_type)
        self._edit({"type": task_type})

    def set_runtime_properties(self, runtime_properties: Mapping[str, Any]) -> bool:
        if not isinstance(runtime_properties, Mapping):
            raise ValidationError("set_runtime_properties: runtime_properties must be a dict")
        merged = {**self.reload()._record.runtime, **runtime_properties}
        self._edit({"runtime": merged})
        return True

    def get_runtime_properties(self) -> dict[str, Any]:
        return dict(self.reload()._record.runtime)

    def set_base_docker(
        self,
        docker_cmd: str | None = None,
        docker_image: str | None = None,
        docker_arguments: str | Sequence[str] | None = None,
        docker_setup_bash_script: str | Sequence[str] | None = None,
    ) -> None:
        """The container the task runs in (`docker_cmd` may hold "image --args")."""
        container = dict(self._record.container)
        if docker_cmd:
            image, _, rest = docker_cmd.strip().partition(" ")
            container["image"] = image
            if rest.strip():
                container["arguments"] = rest.strip()
        if docker_image is not None:
            container["image"] = docker_image
        if docker_arguments is not None:
            args = docker_arguments
            container["arguments"] = args if isinstance(args, str) else " ".join(args)
        if docker_setup_bash_script is not None:
            script = docker_setup_bash_script
            container["setup_shell_script"] = script if isinstance(script, str) else "\n".join(script)
        self._edit({"container": container})

    def set_packages(self, packages: bool | str | Path | Sequence[str] | None) -> None:
        """pip requirements: a list of lines, or a path to a requirements file."""
        if packages is None or packages is False:
            return
        if packages is True:
            text = ""
        elif isinstance(packages, (str, Path)):
            path = Path(packages).expanduser()
            if not path.is_file():
                raise ValidationError(f"set_packages: requirements file {str(packages)!r} does not exist")
            text = path.read_text(encoding="utf-8")
        else:
            text = "\n".join(_str_list("packages", packages))
        self._edit({"requirements": {**self._record.requirements, "pip": text}})

    def set_script(
        self,
        repository: str | None = None,
        branch: str | None = None,
        commit: str | None = None,
        diff: str | None = None,
        working_dir: str | None = None,
        entry_point: str | None = None,
        binary: str | None = None,
    ) -> None:
        given = {
            "repository": repository,
            "branch": branch,
            "commit": commit,
            "diff": diff,
            "working_dir": working_dir,
            "entry_point": entry_point,
            "binary": binary,
        }
        changes = {key: value for key, value in given.items() if value is not None}
        for key, value in changes.items():
            _require_str(key, value)
        self._edit({"script": {**self.reload()._record.script, **changes}})

    def execute_remotely(
        self, queue_name: str | None = None, clone: bool = False, exit_process: bool = True
    ) -> Task | None:
        """Stop running here and let an agent run the task (no-op when an agent runs us).

        The task (or with `clone=True` a clone of it) becomes a draft template: with a
        `queue_name` it is enqueued there. Then the process exits with code 0."""
        if not self.running_locally() or self._remote:
            return None
        _optional_str("queue_name", queue_name)
        backend = client.backend()
        if queue_name is not None:
            backend.get_queue(queue_name)  # NotFound names a missing queue before anything changes
        self.flush(wait_for_uploads=True)
        if clone:
            target = Task.clone(self)
            self._finish(TaskStatus.completed.value if exit_process else self.status)
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

    # ------------------------------------------------------------------ internals

    def _edit(self, changes: dict[str, Any]) -> None:
        self._record = self._backend.edit_task(self.id, changes)


class ConnectedDict(dict):  # type: ignore[type-arg]
    """A connected dict: changes made through it are written to the task's parameters too."""

    def __init__(self, task: Task, section: str, values: Mapping[str, Any]) -> None:
        super().__init__(values)
        self._task = task
        self._section = section
        self._original = values

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        if isinstance(self._original, dict) and self._original is not self:
            self._original[key] = value
        self._write({key: value})

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        changes = dict(*args, **kwargs)
        super().update(changes)
        if isinstance(self._original, dict):
            self._original.update(changes)
        self._write(changes)

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def _write(self, changes: Mapping[str, Any]) -> None:
        flat = params.flatten(changes)
        self._task._write_params({f"{self._section}/{k}": params.to_param(v) for k, v in flat.items()})


class _Nothing:
    pass


_NOTHING = _Nothing()


# ---------------------------------------------------------------------- argument checks


def _require_str(what: str, value: Any) -> None:
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be a str, got {type(value).__name__} ({value!r})")


def _optional_str(what: str, value: Any) -> None:
    if value is not None:
        _require_str(what, value)


def _str_list(what: str, values: Any) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise ValidationError(f"{what} must be a list of str, got {type(values).__name__} ({values!r})")
    result = list(values)
    for value in result:
        if not isinstance(value, str):
            raise ValidationError(f"{what} must be a list of str; {value!r} is a {type(value).__name__}")
    return result


def _check_type(task_type: Any) -> None:
    if task_type not in TaskTypes.all():
        raise ValidationError(f"task_type must be one of {TaskTypes.all()}, got {task_type!r}")


def _output_uri(value: Any) -> str | None:
    if value is None or value is False or value is True:
        return None  # True: the default artifact storage
    if isinstance(value, Path):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"output_uri must be a URL, a path or a bool, got {value!r}")
    return value


def _task_id(what: str, task: Any) -> str:
    if isinstance(task, Task):
        return task.id
    if isinstance(task, str) and task:
        return task
    raise ValidationError(f"{what} must be a Task or a task id, got {type(task).__name__} ({task!r})")


def _queue_name(backend: Backend, queue_name: str | None, queue_id: str | None) -> str:
    if queue_name is not None:
        _require_str("queue_name", queue_name)
        return queue_name
    if queue_id is None:
        raise ValidationError("Task.enqueue: give queue_name or queue_id")
    for queue in backend.list_queues():
        if queue.id == queue_id:
            return queue.name
    raise NotFound(f"queue id {queue_id} not found")


def _section(name: Any) -> str:
    _require_str("name", name)
    if not name or "/" in name:
        raise ValidationError(f"section name must be non-empty and without '/', got {name!r}")
    return str(name)


def _config_name(name: Any) -> str:
    if name is None:
        return params.DEFAULT_SECTION
    _require_str("name", name)
    if not name.strip():
        raise ValidationError("configuration name must not be empty")
    return str(name)


def _switches(what: str, value: Any, names: Sequence[str]) -> dict[str, bool]:
    if isinstance(value, bool):
        return dict.fromkeys(names, value)
    if isinstance(value, Mapping):
        # Named switches not given stay on, as ClearML does; other frameworks are accepted and ignored.
        return {name: bool(value.get(name, True)) for name in names}
    raise ValidationError(f"{what} must be a bool or a dict of switches, got {type(value).__name__}")


def _apply_filter(query: TaskQuery, task_filter: Mapping[str, Any]) -> None:
    if not isinstance(task_filter, Mapping):
        raise ValidationError(f"task_filter must be a dict, got {type(task_filter).__name__}")
    for key, value in task_filter.items():
        if key == "order_by":
            query.order_by = value[0] if isinstance(value, (list, tuple)) else value
        elif key in ("status", "type", "system_tags", "tags", "ids"):
            values = [value] if isinstance(value, str) else list(value)
            setattr(query, key, [str(v) for v in values])
        elif key in ("parent", "name", "project", "limit", "offset", "archived", "runtime"):
            setattr(query, key, value)
        elif key == "page_size":
            query.limit = int(value)
        else:
            raise ValidationError(
                f"task_filter: unknown key {key!r} (known: status, type, tags, system_tags, ids, parent, "
                "name, project, order_by, limit, offset, page_size, archived, runtime)"
            )


def _projects(project_name: str | Sequence[str] | None) -> list[str | None]:
    if project_name is None or isinstance(project_name, str):
        return [project_name]
    return list(_str_list("project_name", project_name))


def _merged_args(args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in args:
        if isinstance(item, Mapping):
            values.update(item)
        elif isinstance(item, Iterable) and not isinstance(item, (str, bytes)):
            values.update(dict(item))
        else:
            raise ValidationError(f"parameters must be given as a dict, got {type(item).__name__}")
    values.update(kwargs)
    return values


def _as_params(values: Mapping[str, Any]) -> dict[str, Param]:
    result: dict[str, Param] = {}
    for key, value in values.items():
        name = params.full_key(key)
        result[name] = value if isinstance(value, Param) else params.to_param(value)
    return result


def _is_pair(item: Any) -> bool:
    return isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)


def _public_attributes(obj: Any) -> dict[str, Any]:
    """Public data attributes: the class's (for an instance, also those it inherits) and its own."""
    source: dict[str, Any] = {}
    owners = [obj] if isinstance(obj, type) else [*reversed(type(obj).__mro__[:-1]), obj]
    for owner in owners:
        source.update(getattr(owner, "__dict__", {}))
    return {
        name: value
        for name, value in source.items()
        if not name.startswith("_")
        and not callable(value)
        and not isinstance(value, (property, staticmethod, classmethod))
    }


def _sorted_dict(values: dict[Any, Any]) -> dict[Any, Any]:
    try:
        return dict(sorted(values.items()))
    except TypeError:  # keys of mixed types: keep the given order
        return values


def _union(old: Sequence[str], new: Sequence[str]) -> list[str]:
    return list(dict.fromkeys([*old, *new]))


def _downsample(points: dict[str, list[Any]], limit: int) -> dict[str, list[Any]]:
    count = len(points["x"])
    if count <= limit:
        return points
    step = count / limit
    picks = sorted({int(i * step) for i in range(limit)} | {count - 1})
    return {"x": [points["x"][i] for i in picks], "y": [points["y"][i] for i in picks]}


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return ""


def _script_name(script: Mapping[str, Any]) -> str:
    entry = script.get("entry_point")
    return Path(entry).stem if entry else "interactive"


def _name_of(script: str | None, module: str | None) -> str:
    if script:
        return Path(script).stem
    return module or "task"


__all__ = ["FINAL", "ConnectedDict", "Task", "TaskTypes"]
