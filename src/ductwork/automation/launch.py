"""Launching what a schedule or trigger names: a function on a thread, or a task (a pipeline
run included) cloned with its overrides and enqueued.

The clone and the enqueue are the ones users call: `PipelineController.clone` / `.enqueue`
for a pipeline run (so the clone is a run in its pipeline's runs project and goes to
`services` by default) and `Task.clone` / `Task.enqueue` for any other task; the overrides
are `steps.apply_overrides`, as a pipeline's task step applies them. Every launched task
carries runtime marks naming the scheduler, the entry and the slot or event: a restarted
scheduler looks the marks up before launching, so an enqueue that happened just before a
crash is found, not repeated.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ductwork.client.contract import Backend
from ductwork.core.errors import Conflict, NotFound, StatusError, ValidationError
from ductwork.core.queries import TaskQuery
from ductwork.core.records import Param, TaskRecord, TaskTypes
from ductwork.core.runformat import PIPELINE_TAG
from ductwork.core.states import NODE_FINAL, TaskStatus

ACTIVE = (TaskStatus.queued.value, TaskStatus.in_progress.value)


@dataclass
class Job:
    """What fires: ClearML's `BaseScheduleJob` fields, shared by schedules and triggers."""

    name: str
    base_task_id: str | None = None
    base_function: Callable[..., Any] | None = None
    queue: str | None = None
    target_project: str | None = None
    single_instance: bool = False
    task_parameters: dict[str, Any] = field(default_factory=dict)
    task_overrides: dict[str, Any] = field(default_factory=dict)
    clone_task: bool = True
    add_tag: str | None = None

    def check(self) -> None:
        """ClearML's rules, each error naming the argument."""
        if self.base_function is not None and self.base_task_id:
            raise ValidationError("give schedule_task_id or schedule_function, not both")
        if self.base_function is None and not self.base_task_id:
            raise ValidationError("give schedule_task_id (a task to clone) or schedule_function")
        if self.base_function is not None and not callable(self.base_function):
            raise ValidationError(f"schedule_function must be callable, got {self.base_function!r}")
        if self.base_function is not None and not self.name:
            raise ValidationError("name is required when scheduling a function")
        if self.base_task_id and not self.clone_task and (self.task_parameters or self.task_overrides):
            raise ValidationError("reuse_task=True: task_parameters and task_overrides need a clone")
        for what, value in (
            ("task_parameters", self.task_parameters),
            ("task_overrides", self.task_overrides),
        ):
            if not isinstance(value, Mapping):
                raise ValidationError(f"{what} must be a dict, got {type(value).__name__}")

    def definition(self) -> dict[str, Any]:
        """The JSON form stored on the scheduler's task (a function by its name only)."""
        fields = {k: v for k, v in vars(self).items() if k != "base_function"}
        fields["base_function"] = getattr(self.base_function, "__qualname__", None)
        return fields


class Call(threading.Thread):
    """A scheduled function's call on a thread of its own. Once it ends, `outcome` says how
    ("returned", or "raised <Type>: <message>") and `ended()` is called, so the scheduler's
    loop wakes to record it."""

    def __init__(
        self, function: Callable[..., Any], args: Sequence[Any], name: str, ended: Callable[[], None] | None
    ) -> None:
        super().__init__(name=name, daemon=True)
        self._function, self._args, self._ended = function, tuple(args), ended
        self.outcome = ""

    def run(self) -> None:
        try:
            self._function(*self._args)
            self.outcome = "returned"
        except BaseException as exc:
            self.outcome = f"raised {type(exc).__name__}: {exc}"
            raise  # the thread's excepthook prints the traceback, as for any thread
        finally:
            if self._ended is not None:
                self._ended()


def launch_function(
    job: Job, args: Sequence[Any], running: threading.Thread | None, ended: Callable[[], None] | None = None
) -> Call | None:
    """Call the function on a thread of its own (None: skipped, its last call still runs)."""
    if job.single_instance and running is not None and running.is_alive():
        return None
    assert job.base_function is not None
    call = Call(job.base_function, args, f"schedule {job.name}", ended)
    call.start()
    return call


def launch_task(
    backend: Backend, job: Job, marks: Mapping[str, str], *, parameters: Mapping[str, Any], last: str | None
) -> str | None:
    """Clone (or reuse), override and enqueue the job's task; its id, or None when skipped
    because `single_instance` and the last one is still queued or running."""
    # First what this very slot or event launched before a restart (finish its enqueue, never
    # a second clone), then single_instance: a launch already made is not "skipped".
    done = backend.query_tasks(TaskQuery(runtime=dict(marks), archived=None, limit=1))
    if done:
        if done[0].status == TaskStatus.created.value:
            _enqueue(backend, done[0], job.queue)
        return done[0].id
    if job.single_instance and last and still_active(backend, last):
        return None
    assert job.base_task_id is not None
    base = backend.get_task(job.base_task_id)
    record = _clone(backend, base, job) if job.clone_task else _reused(backend, base)
    if parameters:
        backend.set_parameters(record.id, _typed(backend.get_parameters(record.id), parameters))
    from ductwork.pipelines.steps import apply_overrides

    changes = apply_overrides(record, job.task_overrides)
    changes["runtime"] = {**record.runtime, **changes.get("runtime", {}), **marks}
    if job.add_tag:
        changes["tags"] = sorted({*record.tags, job.add_tag})
    record = backend.edit_task(record.id, changes)
    _enqueue(backend, record, job.queue)
    return record.id


def still_active(backend: Backend, task_id: str) -> bool:
    """Whether the task is queued or running (a deleted one is not)."""
    try:
        return backend.get_task(task_id).status in ACTIVE
    except NotFound:
        return False


def stop_launched(backend: Backend, task: TaskRecord, message: str, reason: str) -> None:
    """Stop a launched task (Conflict when its status changed meanwhile). A pipeline run is
    stopped whole, as the web UI's abort of a run: its agent kills the controller's process at
    once, before the controller could stop its steps, so its unfinished steps (and anything
    under them) are stopped here and its unfinished nodes marked aborted."""
    stopped = TaskStatus.stopped.value
    backend.set_status(task.id, stopped, message=message, reason=reason, expect=[task.status])
    if not is_pipeline(task):
        return
    for below in _descendants(backend, task.id):
        if below.status in ACTIVE:
            try:
                backend.set_status(below.id, stopped, message=message, reason=reason, expect=list(ACTIVE))
            except (Conflict, StatusError, NotFound):
                pass  # it ended meanwhile
    nodes = [n for n in backend.get_nodes(task.id) if n.status not in NODE_FINAL]
    for node in nodes:
        node.status, node.ended, node.message = "aborted", node.ended or time.time(), message
    if nodes:
        backend.put_nodes(nodes)


def _descendants(backend: Backend, run_id: str, most: int = 10_000) -> list[TaskRecord]:
    found: list[TaskRecord] = []
    parents, seen = [run_id], {run_id}
    while parents and len(found) < most:
        children = [
            t
            for p in parents
            for t in backend.query_tasks(TaskQuery(parent=p, archived=None))
            if t.id not in seen
        ]
        seen.update(t.id for t in children)
        found += children
        parents = [t.id for t in children]
    return found


def is_pipeline(record: TaskRecord) -> bool:
    return record.type == TaskTypes.controller and PIPELINE_TAG in record.system_tags


def _clone(backend: Backend, base: TaskRecord, job: Job) -> TaskRecord:
    if is_pipeline(base):
        from ductwork.pipelines.controller import PipelineController

        base_name = base.name.split(" #")[0]
        project = f"{job.target_project}/.pipelines/{base_name}" if job.target_project else None
        return PipelineController.clone(base.id, name=base_name, project=project)._task
    from ductwork.sdk.task import Task

    project = backend.ensure_project(job.target_project).id if job.target_project else None
    return backend.get_task(Task.clone(base.id, name=base.name, project=project).id)


def _reused(backend: Backend, base: TaskRecord) -> TaskRecord:
    """`reuse_task=True`: the same task again, back to a draft first (as ClearML resets it)."""
    if base.status in ACTIVE:
        raise ValidationError(f"reuse_task: task {base.id} is still {base.status}")
    return base if base.status == TaskStatus.created.value else backend.reset_task(base.id)


def _typed(stored: Mapping[str, Param], values: Mapping[str, Any]) -> dict[str, Param]:
    """ClearML's `{"Args/batch": "12"}`: each value cast to the type the task stores for it, so
    a pipeline reads `12` as the int its parameter is."""
    from ductwork.sdk import params

    typed: dict[str, Param] = {}
    for key, value in values.items():
        name = params.full_key(key)
        old = stored.get(name)
        if old is None:
            typed[name] = params.to_param(value)
        else:
            cast = params.cast(value, old.type, name=f"task_parameters[{key!r}]")
            typed[name] = Param(value=params.storable(cast), type=old.type, description=old.description)
    return typed


def _enqueue(backend: Backend, record: TaskRecord, queue: str | None) -> None:
    if is_pipeline(record):
        from ductwork.pipelines.controller import PipelineController

        PipelineController.enqueue(record.id, queue_name=queue)
        return
    from ductwork.sdk.task import Task

    if queue is None:
        raise ValidationError(f"task {record.id}: no queue to enqueue it on (give queue)")
    backend.ensure_queue(queue)
    Task.enqueue(record.id, queue_name=queue)
