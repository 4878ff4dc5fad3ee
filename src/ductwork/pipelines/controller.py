"""`PipelineController`: a DAG of steps and the controller task that runs it.

Public names and arguments follow ClearML's PipelineController; the inside is ours: one
event-driven scheduler (`engine`) for every mode, steps prepared by `run.Run`, executors for
in-process, local-process and queued steps. Where ClearML has known quirks (cached steps are not
"successful", `continue_behaviour` defaults, time limits that let children run, the 12 s polling
loop, swapped callbacks) we do what its documentation promises.

This class is the facade: the methods ClearML names. What they do lives in the layers under it
(`pipeline`, `building`, `writing`, `running`, `loading`; see `pipeline.py`), over frozen specs
(`spec`), the engine's step states (`state`) and a `run.Run` that takes what it needs.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ductwork.core.errors import ValidationError
from ductwork.core.records import TaskTypes
from ductwork.core.runformat import CONTROLLER_QUEUE, VERSION
from ductwork.core.states import NODE_SUCCESS, TaskStatus
from ductwork.pipelines.loading import StoredRuns
from ductwork.pipelines.node import Node as StepNode
from ductwork.pipelines.options import (
    container,
    need_text,
    package_list,
    version_ok,
)
from ductwork.pipelines.pipeline import DEFAULT_VERSION
from ductwork.pipelines.spec import RetryPolicy

if TYPE_CHECKING:  # the Task API, imported where it is used (a step process never needs it)
    from ductwork.sdk.logger import Logger
    from ductwork.sdk.model import OutputModel
    from ductwork.sdk.task import Task


class PipelineController(StoredRuns):
    Node = StepNode

    def __init__(
        self,
        name: str,
        project: str,
        version: str | None = None,
        pool_frequency: float = 0.2,
        add_pipeline_tags: bool = False,
        target_project: str | bool | None = True,
        auto_version_bump: bool | None = None,
        abort_on_failure: bool = False,
        add_run_number: bool = True,
        retry_on_failure: RetryPolicy = None,
        docker: str | None = None,
        docker_args: str | None = None,
        docker_bash_setup_script: str | None = None,
        packages: bool | str | Sequence[str] | None = None,
        repo: str | None = None,
        repo_branch: str | None = None,
        repo_commit: str | None = None,
        always_create_from_code: bool = True,
        artifact_serialization_function: Callable[[Any], bytes] | None = None,
        artifact_deserialization_function: Callable[[bytes], Any] | None = None,
        output_uri: str | bool | None = None,
        skip_global_imports: bool = False,
        working_dir: str | None = None,
        enable_local_imports: bool = True,
    ) -> None:
        need_text("name", name)
        need_text("project", project)
        if version is not None and not version_ok(version):
            raise ValidationError(f"pipeline version {version!r} is not a version like 1.0.0")
        self._name = name
        self._project_name = project
        self._version = version
        self._auto_version_bump = auto_version_bump
        self._add_pipeline_tags = add_pipeline_tags
        self._target_project = target_project
        self._abort_on_failure = abort_on_failure
        self._add_run_number = add_run_number
        self._retry = retry_on_failure
        self._always_create_from_code = always_create_from_code
        self._serialize_fn = artifact_serialization_function
        self._deserialize_fn = artifact_deserialization_function
        self._output_uri = output_uri if isinstance(output_uri, str) else None
        self._skip_global_imports = skip_global_imports
        self._working_dir = working_dir
        self._enable_local_imports = enable_local_imports
        self._container = container(docker, docker_args, docker_bash_setup_script)
        self._packages = package_list(packages)
        self._repo = {"repository": repo, "branch": repo_branch, "commit": repo_commit} if repo else {}
        self._fresh_state()
        self._task = self._attach_or_create()
        self._become_current()

    def start(
        self,
        queue: str | None = CONTROLLER_QUEUE,
        step_task_created_callback: Callable[..., Any] | None = None,
        step_task_completed_callback: Callable[..., Any] | None = None,
        wait: bool = True,
    ) -> bool:
        """Run the controller on an agent (the local process leaves, as in ClearML).

        Under that agent, the same call runs the pipeline here with steps on their queues.
        `queue=None` leaves a draft that can be enqueued or rerun later."""
        self._callbacks = {"created": step_task_created_callback, "completed": step_task_completed_callback}
        if self._remote:
            self._load_stored_dag()
            self._execute("queue", wait=wait)
            return True
        self._verify(need_queues=True)
        self._serialize()
        if queue is None:
            print(f"[ductwork] pipeline draft saved: task {self._task.id}")
            return True
        self._enqueue_self(queue)
        sys.exit(0)

    def start_locally(self, run_pipeline_steps_locally: bool = False, in_process: bool = False) -> None:
        """Run the controller here; steps as local processes, or on their queues' agents.

        `in_process=True` (ductwork's debug mode for controllers): steps are plain function
        calls in this process, still recorded as tasks. Steps from existing tasks still run
        as processes."""
        if run_pipeline_steps_locally and not in_process:
            from ductwork.pipelines.warming import warm_up

            warm_up()  # the steps' fork server imports while the run is checked and written
        if self._remote:  # a continued run on an agent keeps the steps that already succeeded
            self._load_stored_dag()
        self._execute("debug" if in_process else "local" if run_pipeline_steps_locally else "queue")

    def create_draft(self) -> None:
        self._verify(need_queues=False)
        self._serialize()

    def set_default_execution_queue(self, default_execution_queue: str | None) -> None:
        self._default_queue = default_execution_queue

    def set_pipeline_execution_time_limit(self, max_execution_minutes: float | None) -> None:
        self._time_limit = float(max_execution_minutes) * 60 if max_execution_minutes else None

    def get_parameters(self) -> dict[str, Any]:
        return self._args_values()

    def connect_configuration(
        self,
        configuration: Mapping[str, Any] | list[Any] | str,
        name: str | None = None,
        description: str | None = None,
    ) -> Any:
        return self.task.connect_configuration(configuration, name=name, description=description)

    def is_successful(self, fail_on_step_fail: bool = True, fail_condition: str = "all") -> bool:
        if fail_condition not in ("all", "failed", "aborted"):
            raise ValidationError(
                f"fail_condition must be 'all', 'failed' or 'aborted', not {fail_condition!r}"
            )
        status = self._backend.get_task(self._task.id).status
        if status not in (TaskStatus.completed, TaskStatus.published):
            return False
        if not fail_on_step_fail:
            return True
        bad = {"all": {"failed", "aborted"}, "failed": {"failed"}, "aborted": {"aborted"}}[fail_condition]
        return not any(node.status in bad for node in self._nodes.values())

    def elapsed(self) -> float:
        """Minutes since the run started, -1.0 before."""
        return -1.0 if self._started_at is None else (time.time() - self._started_at) / 60

    def get_pipeline_dag(self) -> dict[str, StepNode]:
        return self._nodes

    def get_processed_nodes(self) -> list[StepNode]:
        return [
            n for n in self._nodes.values() if n.status in NODE_SUCCESS | {"failed", "aborted", "skipped"}
        ]

    def get_running_nodes(self) -> list[StepNode]:
        return [n for n in self._nodes.values() if n.status in ("queued", "running")]

    def update_execution_plot(self) -> None:
        self._write_dag()

    def add_tags(self, tags: Sequence[str] | str) -> None:
        new = [tags] if isinstance(tags, str) else list(tags)
        self._task = self._backend.edit_task(
            self._task.id, {"tags": list(dict.fromkeys([*self._task.tags, *new]))}
        )

    def force_refresh(self, *steps: str) -> None:
        """Run these cached steps again and replace their cached results (all if none named).

        Also `DUCTWORK_CACHE_REFRESH=all` or `=step1,step2` for a whole process."""
        self._refresh_steps |= set(steps) or {"*"}

    @classmethod
    def _controller_task(cls) -> Task:
        from ductwork.sdk.task import Task

        current = Task.current_task()
        if current is None:
            raise ValidationError("no current task: call this from inside a pipeline step")
        for candidate in (current, Task.get_task(task_id=current.parent) if current.parent else None):
            if candidate is not None and candidate.task_type == TaskTypes.controller:
                return candidate
        raise ValidationError(
            f"could not locate the pipeline of task {current.id}: it is not a pipeline step"
        )

    @classmethod
    def get_logger(cls) -> Logger:
        return cls._controller_task().get_logger()

    @classmethod
    def upload_artifact(
        cls,
        name: str,
        artifact_object: Any,
        metadata: Mapping[str, Any] | None = None,
        delete_after_upload: bool = False,
        auto_pickle: bool | None = None,
        preview: Any = None,
        wait_on_upload: bool = False,
        serialization_function: Callable[[Any], bytes] | None = None,
        sort_keys: bool = True,
    ) -> bool:
        return bool(
            cls._controller_task().upload_artifact(
                name,
                artifact_object,
                metadata=metadata,
                delete_after_upload=delete_after_upload,
                auto_pickle=auto_pickle,
                preview=preview,
                wait_on_upload=True,
                serialization_function=serialization_function,
                sort_keys=sort_keys,
            )
        )

    @classmethod
    def upload_model(
        cls, model_name: str, model_local_path: str, upload_uri: str | None = None
    ) -> OutputModel:
        from ductwork.sdk.model import OutputModel

        model = OutputModel(task=cls._controller_task(), name=model_name)
        model.update_weights(weights_filename=model_local_path, upload_uri=upload_uri)
        return model

    @property
    def task(self) -> Task:
        from ductwork.sdk.task import Task

        return Task._from_record(self._backend.get_task(self._task.id))

    @property
    def id(self) -> str:
        return self._task.id

    @property
    def tags(self) -> list[str]:
        return list(self._backend.get_task(self._task.id).tags)

    @property
    def version(self) -> str:
        return str(
            self._backend.get_task(self._task.id).runtime.get(VERSION) or self._version or DEFAULT_VERSION
        )
