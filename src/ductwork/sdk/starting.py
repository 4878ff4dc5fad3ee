"""How `Task.init` starts the task of this process.

Every argument is checked before anything is written, so bad input leaves no task behind.
Then the task is found or made (`TaskStart.open`), capture is switched on for it, and it
becomes the process's main task, watched by `lifecycle` until the process ends.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from ductwork import client
from ductwork.client.contract import Backend
from ductwork.core import settings
from ductwork.core.errors import ValidationError
from ductwork.core.records import TaskRecord
from ductwork.core.states import TaskStatus
from ductwork.sdk import current, lifecycle, offline, requirements, script
from ductwork.sdk.capture import arguments, console, resources
from ductwork.sdk.capture import frameworks as capture_frameworks
from ductwork.sdk.catalog import find_records
from ductwork.sdk.checks import check_type, optional_str, output_uri_of, str_list
from ductwork.sdk.drafts import DEFAULT_PROJECT, user_name
from ductwork.sdk.logger import Logger
from ductwork.sdk.taskcore import TaskCore

T = TypeVar("T", bound=TaskCore)

DEVELOPMENT = "development"
FRAMEWORKS = capture_frameworks.NAMES
# Set to "1" by a supervisor (agent, pipeline controller) that records the process's output.
CONSOLE_CAPTURED = "DUCTWORK_CONSOLE_CAPTURED"

Switch = bool | Mapping[str, object]


@dataclass
class TaskStart:
    """What `Task.init` was asked, checked."""

    project_name: str | None
    task_name: str | None
    task_type: str
    tags: list[str]
    output_uri: str | None
    reuse_last_task_id: bool | str
    continue_last_task: bool | str | int
    streams: dict[str, bool]
    frameworks: dict[str, bool]
    arg_parser: bool
    monitoring: Switch

    @classmethod
    def checked(
        cls,
        project_name: str | None,
        task_name: str | None,
        task_type: str,
        tags: Sequence[str] | None,
        reuse_last_task_id: bool | str,
        continue_last_task: bool | str | int,
        output_uri: str | bool | None,
        auto_connect_arg_parser: Switch,
        auto_connect_frameworks: Switch,
        auto_resource_monitoring: Switch,
        auto_connect_streams: Switch,
    ) -> TaskStart:
        optional_str("project_name", project_name)
        optional_str("task_name", task_name)
        check_type(task_type)
        tag_list = str_list("tags", tags)
        uri = output_uri_of(output_uri)
        streams = _switches("auto_connect_streams", auto_connect_streams, ("stdout", "stderr", "logging"))
        frameworks = capture_frameworks.switches(auto_connect_frameworks)
        if not isinstance(auto_connect_arg_parser, (bool, Mapping)):
            kind = type(auto_connect_arg_parser).__name__
            raise ValidationError(f"auto_connect_arg_parser must be a bool or a dict, got {kind}")
        resources.check(auto_resource_monitoring)
        return cls(
            project_name,
            task_name,
            task_type,
            tag_list,
            uri,
            reuse_last_task_id,
            continue_last_task,
            streams,
            frameworks,
            bool(auto_connect_arg_parser),
            auto_resource_monitoring,
        )

    def open(self, cls: type[T]) -> T:
        """The task this process runs: the agent's or pipeline's, a reused, continued or new one."""
        task_id = settings.task_id()
        if not task_id and offline.is_offline():
            backend, session = offline.open_session()
            return self._create_running(cls, backend, session)
        backend = client.backend()
        if task_id:
            return _attach(cls, backend, task_id)
        if isinstance(self.reuse_last_task_id, str) and self.reuse_last_task_id:
            return _reuse(cls, backend, self.reuse_last_task_id)
        which = self.continue_last_task
        if which is not False and which is not None and which != 0:
            found = _last_to_continue(cls, backend, self.project_name, self.task_name, which)
            if found is not None:
                return found
        return self._create_running(cls, backend)

    def _create_running(
        self, cls: type[T], backend: Backend, session: offline.SessionBackend | None = None
    ) -> T:
        project = backend.ensure_project(self.project_name or DEFAULT_PROJECT)
        described = script.describe_running()
        record = TaskRecord(
            name=self.task_name or _script_name(described),
            project=project.id,
            type=self.task_type,
            tags=self.tags,
            system_tags=[DEVELOPMENT],
            user=user_name(),
            script=described,
            requirements=requirements.recorded(),
            output_uri=self.output_uri,
            status=TaskStatus.in_progress.value,  # created running: one write, its start time set
        )
        task = cls(session.begin(record) if session else backend.create_task(record), backend)
        folder = script.code_folder()
        if folder and not script.standalone():
            task._uploads.submit("script:git", lambda: _record_git(task, folder), "git state of the script")
        return task


def start(task: TaskCore, wanted: TaskStart) -> None:
    """Make `task` the main task of this process: captured, monitored, ended at exit."""
    task._owned = True
    start_capture(task, wanted.streams, wanted.frameworks, wanted.arg_parser)
    task._monitor = resources.start_for(task.id, _scalar_reporter(task), wanted.monitoring)
    current.set_main(task)
    lifecycle.watch()
    if task._captures_args:
        arguments.connect_parsed(task)


def _scalar_reporter(task: TaskCore) -> resources.ReportScalar:
    # The logger is looked up at each report, as `task.get_logger()` would be.
    def report(title: str, series: str, value: float, iteration: int) -> None:
        Logger.of(task).report_scalar(title, series, value, iteration)

    return report


def start_capture(
    task: TaskCore, streams: dict[str, bool], frameworks: dict[str, bool], arg_parser: bool
) -> None:
    chosen = frozenset(name for name in ("stdout", "stderr", "logging") if streams[name])
    # A supervisor (agent, pipeline controller) that records our output itself says so,
    # and we do not record it twice.
    if chosen and os.environ.get(CONSOLE_CAPTURED) != "1":
        task._console = console.attach(task.id, task._channels.console, chosen)
    task._captures_args = arg_parser
    capture_frameworks.start_for(task, frameworks)


def records_console() -> bool:
    """Whether this process records what its tasks print (not when a supervisor does)."""
    return os.environ.get(CONSOLE_CAPTURED) != "1"


def console_ready() -> None:
    """The console proxies in place, so a print can reach a task made on that print
    (`current.Deferred`)."""
    console.install(logging_handlers=False)  # as `capture_console` does


def capture_console(task: TaskCore) -> None:
    """Record what this context prints on `task` (a step run in this process), unless a
    supervisor records it already."""
    if records_console():
        task._console = console.attach(task.id, task._channels.console, frozenset({"stdout", "stderr"}))


def _record_git(task: TaskCore, folder: str) -> None:
    state = script.git_state(folder)
    if state:
        merged = {**task._backend.get_task(task.id).script, **state}
        task._edit({"script": merged})


def _attach(cls: type[T], backend: Backend, task_id: str) -> T:
    record = backend.get_task(task_id)
    if record.status in (TaskStatus.created.value, TaskStatus.queued.value):
        record = backend.set_status(task_id, TaskStatus.in_progress.value)
    return cls(record, backend, remote=True)


def _reuse(cls: type[T], backend: Backend, task_id: str) -> T:
    backend.reset_task(task_id)
    return cls(backend.set_status(task_id, TaskStatus.in_progress.value), backend)


def _last_to_continue(
    cls: type[T], backend: Backend, project_name: str | None, task_name: str | None, which: bool | str | int
) -> T | None:
    """The task `continue_last_task` names (an id, or the newest of this name), running again."""
    if isinstance(which, str):
        record = backend.get_task(which)
    else:
        found = find_records(
            backend, project_name or DEFAULT_PROJECT, task_name, None, True, None, exact=True, limit=1
        )
        if not found:
            return None
        record = found[0]
    if record.status != TaskStatus.in_progress.value:
        record = backend.set_status(record.id, TaskStatus.in_progress.value, force=True)
    return cls(record, backend)


def _switches(what: str, value: object, names: Sequence[str]) -> dict[str, bool]:
    if isinstance(value, bool):
        return dict.fromkeys(names, value)
    if isinstance(value, Mapping):
        # Named switches not given stay on, as ClearML does; other frameworks are accepted and ignored.
        return {name: bool(value.get(name, True)) for name in names}
    raise ValidationError(f"{what} must be a bool or a dict of switches, got {type(value).__name__}")


def _script_name(described: Mapping[str, object]) -> str:
    entry = described.get("entry_point")
    return Path(str(entry)).stem if entry else "interactive"
