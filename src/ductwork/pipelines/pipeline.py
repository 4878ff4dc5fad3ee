"""What every part of a `PipelineController` shares: its settings and steps, the controller task
(created here, or attached to under an agent), where its steps go and how its arguments are keyed.

`PipelineController` is built in layers, each a module named for what it does and each using
only the layers under it: this base, `building` (steps and parameters), `writing` (the run in
the store, versions), `running` (starting, owning and finishing a run), `loading` (stored runs:
get, clone, enqueue, resume), then the ClearML-named facade (`controller`).
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Callable
from typing import Any

from ductwork import client
from ductwork.client.contract import Backend
from ductwork.core import launch, runformat, settings
from ductwork.core.queries import TaskQuery
from ductwork.core.records import Param, TaskRecord, TaskTypes
from ductwork.core.runformat import (
    ARGS,
    HIDDEN_TAG,
    PIPELINE_TAG,
    arg_key,
)
from ductwork.pipelines import origin, unstarted
from ductwork.pipelines.dagtext import DagText
from ductwork.pipelines.node import Node as StepNode
from ductwork.pipelines.options import (
    user_name,
)
from ductwork.pipelines.run import Run
from ductwork.pipelines.spec import RetryPolicy

DEFAULT_VERSION = "1.0.0"


# The controller Tasks a constructor made the script's current task (by identity: the same
# task activated by its running pipeline is a parent to the pipelines it starts).
_MADE_CURRENT: list[Any] = []


class PipelineBase:
    # settings, from the constructor (or a stored run's controller task)
    _name: str
    _project_name: str
    _version: str | None
    _auto_version_bump: bool | None
    _add_pipeline_tags: bool
    _target_project: str | bool | None
    _abort_on_failure: bool
    _add_run_number: bool
    _retry: RetryPolicy
    _always_create_from_code: bool
    _serialize_fn: Callable[[Any], bytes] | None
    _deserialize_fn: Callable[[bytes], Any] | None
    _output_uri: str | None
    _skip_global_imports: bool
    _working_dir: str | None
    _enable_local_imports: bool
    _container: dict[str, Any]
    _packages: list[str] | None
    _repo: dict[str, Any]
    # the pipeline and its run
    _nodes: dict[str, StepNode]
    _dag_text: DagText  # the `Pipeline` configuration, encoded step by step
    _args: dict[str, Param]
    _arg_sections: dict[str, str]  # decorator `args_map`: argument -> section
    _default_queue: str | None
    _time_limit: float | None  # seconds
    _callbacks: dict[str, Callable[..., Any] | None]
    _refresh_steps: set[str]
    _run: Run | None
    _started_at: float | None
    _early_stop: str | None  # a stop asked before the run began
    _lock: threading.Lock
    _backend: Backend
    _task: TaskRecord
    _remote: bool  # attached to a controller task an agent runs

    def _fresh_state(self) -> None:
        """No steps, arguments or run yet."""
        self._nodes = {}
        self._dag_text = DagText()
        self._args = {}
        self._arg_sections = {}
        self._default_queue = None
        self._time_limit = None
        self._callbacks = {}
        self._refresh_steps = set()
        self._run = None
        self._started_at = None
        self._early_stop = None
        self._lock = threading.Lock()
        self._backend = client.backend()

    def _attach_or_create(self) -> TaskRecord:
        """Under an agent the controller task already exists: attach to it. Else create one."""
        own = settings.task_id()
        if own:
            record = self._backend.get_task(own)
            if record.type == TaskTypes.controller and PIPELINE_TAG in record.system_tags:
                self._remote = True
                return record
        self._remote = False
        from ductwork.sdk import current

        running = current.get()  # a pipeline started from inside a task (a step, a pipeline)
        if any(running is made for made in _MADE_CURRENT):
            running = None  # another controller of this script, current only for get_logger()
        own = running.id if running is not None else own
        project = self._backend.ensure_project(self.runs_project, system_tags=[PIPELINE_TAG, HIDDEN_TAG])
        record = TaskRecord(
            name=self._run_name(project.id),
            project=project.id,
            type=TaskTypes.controller,
            system_tags=[PIPELINE_TAG],
            parent=own,
            user=user_name(),
            script=self._script(),
            requirements={"pip": "\n".join(self._packages or [])},
            container=dict(self._container),
            output_uri=self._output_uri,
        )
        created = self._backend.create_task(record)
        unstarted.made(created.id, self._backend)  # a draft nobody starts does not stay one
        return created

    @property
    def runs_project(self) -> str:
        return runformat.runs_project(self._project_name, self._name)

    def _become_current(self) -> None:
        """A script without a current task gets the controller's, as ClearML's constructor
        (which runs Task.init) gives it: `Task.current_task()` and
        `PipelineController.get_logger()` work from the main script. The process's main task,
        as `Task.init` makes it (an activation scoped to a `with` block cannot outlive this
        call), until the run ends here."""
        from ductwork.sdk import current
        from ductwork.sdk.task import Task

        if current.get() is not None:
            return
        task = Task(self._task, self._backend)
        _MADE_CURRENT.append(task)
        current.set_main(task)

    def _release_current(self) -> None:
        """The run ended: the controller is no longer the script's current task."""
        from ductwork.sdk import current

        for made in [made for made in _MADE_CURRENT if made.id == self._task.id]:
            _MADE_CURRENT.remove(made)
            current.forget(made)

    def _run_name(self, project_id: str) -> str:
        return run_name(self._backend, project_id, self._name, self._add_run_number)

    def _script(self) -> dict[str, Any]:
        """What an agent runs to build this pipeline again (NEW RUN): the user's script, as
        ClearML records it, or what `origin` says for a pipeline something else started."""
        from ductwork.sdk import script as scripts

        path = scripts.user_script()
        script: dict[str, Any] = dict(self._repo)
        # Where the controller runs on an agent: relative to its code, never this machine's
        # folder: the script's folder in the repository it names, else the agent's own folder.
        folder = launch.working_folder(f"pipeline {self._name!r}", self._working_dir, "working_dir")
        if self._working_dir is None and self._repo and path is not None:
            folder = scripts.folder_in_repository(path)
        script["working_dir"] = folder
        script["binary"] = f"python{sys.version_info.major}.{sys.version_info.minor}"
        if path is None:
            return {**script, **origin.rebuild_script()}
        script["entry_point"] = path.name
        code = scripts.read_code(path)
        if code is not None:
            script["code"] = code
        script["args"] = sys.argv[1:]
        return script

    def _args_values(self) -> dict[str, Any]:
        return {name: param.value for name, param in self._args.items()}

    def _arg_key(self, name: str) -> str:
        """Where argument `name` is stored: `Args/<name>`, or the section `args_map` gives it."""
        return arg_key(name, self._arg_sections.get(name, ARGS))

    def _refresh(self, step: str) -> bool:
        names = self._refresh_steps | set(
            filter(None, os.environ.get("DUCTWORK_CACHE_REFRESH", "").split(","))
        )
        return bool({"*", "all", step} & names)

    def _step_project(self, node: StepNode) -> str | None:
        if node.project_name:
            return self._backend.ensure_project(node.project_name).id
        if self._target_project is True or self._target_project is None:
            return self._task.project
        if isinstance(self._target_project, str) and self._target_project:
            return self._backend.ensure_project(self._target_project).id
        return self._task.project

    def _step_tags(self) -> list[str]:
        return [f"pipe: {self._task.id}"] if self._add_pipeline_tags else []


def run_name(backend: Backend, project_id: str, name: str, numbered: bool) -> str:
    """A new run's name: the pipeline's, then " #2", " #3"... for the runs after the first."""
    if not numbered:
        return name
    pattern = f"^{re.escape(name)}( #[0-9]+)?$"
    count = backend.count_tasks(
        TaskQuery(project=project_id, name_pattern=pattern, type=[TaskTypes.controller], archived=None)
    )
    return name if count == 0 else f"{name} #{count + 1}"
