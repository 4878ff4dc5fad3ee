"""Pipeline runs from the outside: NEW RUN, abort, continue; and aborting one task.

Used by the REST API and by the web UI alike (both pass the calling user's name).

* `new_run`: clone the run's controller task (parameters, configuration, code, input
  models; no outputs), replace `Args/*` with the given values cast to each parameter's stored
  type, name it `<name> #N`, enqueue it, and say whether any live agent listens on the queue.
  A run whose controller recorded that nothing can rebuild it (`launch.rerun_refusal`: a
  pipeline function defined in a notebook, say) is refused with that reason, before any write.
* `abort_run`: stop the controller and every unfinished task below it; mark its unfinished
  nodes aborted (the controller, once killed, cannot).
* `continue_run`: put a stopped or failed controller back on its queue; it resumes from the
  steps that did not complete.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ductwork.core import arguments, launch, runformat
from ductwork.core.errors import Conflict, NotFound, StatusError, ValidationError
from ductwork.core.patterns import Pattern
from ductwork.core.queries import TaskQuery
from ductwork.core.records import NodeState, Param, TaskRecord
from ductwork.core.states import FINAL, NODE_FINAL
from ductwork.server.services import permissions
from ductwork.server.services.hub import Hub

if TYPE_CHECKING:
    from ductwork.store.store import Store

DEFAULT_QUEUE = runformat.CONTROLLER_QUEUE
_NUMBERED = Pattern(r"^(?P<base>.*?)(?: #\d+)?$")


@dataclass
class Started:
    id: str
    name: str
    queue: str
    listening: bool  # some live agent serves the queue

    @property
    def warning(self) -> str:
        if self.listening:
            return ""
        return (
            f"no agent is listening on queue {self.queue!r}:"
            f" start one with `ductwork agent --queue {self.queue}`"
        )

    def as_dict(self) -> dict[str, str | bool]:
        return {
            "id": self.id,
            "name": self.name,
            "queue": self.queue,
            "listening": self.listening,
            "warning": self.warning,
        }


def new_run(
    hub: Hub, run_id: str, args: Mapping[str, object], *, queue: str | None = None, user: str = ""
) -> Started:
    store = hub.store
    controller = _controller(store, run_id)
    refusal = launch.rerun_refusal(controller.script)
    if refusal:
        raise Conflict(f"run {run_id} cannot be run again: {refusal}")
    if not isinstance(args, Mapping):
        raise ValidationError(f"args must be an object of pipeline arguments, got {type(args).__name__}")
    params: dict[str, Param] = store.get_parameters(run_id)
    new_args = {runformat.arg_key(name): _cast_argument(name, value, params) for name, value in args.items()}
    target = queue or controller.queue or DEFAULT_QUEUE
    if target == DEFAULT_QUEUE:  # the controllers' queue exists on first use, as ClearML's does
        store.ensure_queue(target, user=user)
    else:
        store.get_queue(target)  # a missing queue is a 404 before anything is created
    name = _next_name(store, controller)
    clone: TaskRecord = store.clone_task(
        run_id, name=name, project=controller.project, parent=controller.parent
    )
    # A clone starts fresh: runtime state of the old run stays behind.
    runtime = runformat.fresh_runtime(controller.runtime)
    store.edit_task(clone.id, {"runtime": runtime, **({"user": user} if user else {})})
    if new_args:
        store.set_parameters(clone.id, new_args)
    hub.enqueue(clone.id, target)
    return Started(clone.id, name, target, listening(hub, target))


def continue_run(hub: Hub, run_id: str, *, queue: str | None = None) -> Started:
    controller = _controller(hub.store, run_id)
    if controller.status not in ("stopped", "failed"):
        raise StatusError(f"run {run_id} is {controller.status}; only a stopped or failed run can continue")
    target = queue or controller.queue or DEFAULT_QUEUE
    hub.enqueue(run_id, target)
    return Started(run_id, controller.name, target, listening(hub, target))


def abort_run(hub: Hub, run_id: str, *, caller: permissions.User = None) -> list[str]:
    """Stop the run and everything under it that has not finished; answers the stopped ids.

    With a `caller`, the run must be one they may abort, and of the tasks under it only those
    they may abort are stopped: a copy someone else made of a step (its parent is this run)
    is theirs, not the run owner's."""
    store = hub.store
    controller = _controller(store, run_id)
    if caller is not None:
        permissions.require(caller, "abort", permissions.run(controller))
    user = permissions.name_of(caller)
    message = f"aborted by {user}" if user else "aborted"
    below = [
        t
        for t in _descendants(store, run_id)
        if caller is None or permissions.allowed(caller, "abort", permissions.task(t))
    ]
    stopped = [t.id for t in [controller, *below] if _stop(hub, t, message)]
    nodes: list[NodeState] = store.get_nodes(run_id)
    unfinished = [n for n in nodes if n.status not in NODE_FINAL]
    for node in unfinished:
        node.status = "aborted"
        node.ended = node.ended or time.time()
        node.message = message
    if unfinished:
        hub.put_nodes(unfinished)
    return stopped


def abort_task(hub: Hub, task_id: str, *, user: str = "") -> TaskRecord:
    """Stop one queued or running task (its agent kills the process when it sees the status)."""
    task: TaskRecord = hub.store.get_task(task_id)
    if task.status not in ("queued", "in_progress"):
        raise StatusError(f"task {task_id} is {task.status}; only a queued or running task can be aborted")
    return hub.set_status(
        task_id,
        "stopped",
        message=f"aborted by {user}" if user else "aborted",
        reason="abort",
        expect=["queued", "in_progress"],
    )


def listening(hub: Hub, queue: str) -> bool:
    """Whether a live agent (heartbeat within the timeout) serves `queue`."""
    cutoff = time.time() - hub.heartbeat_timeout
    return any(queue in w.queues and w.heartbeat >= cutoff for w in hub.store.list_workers())


def _stop(hub: Hub, task: TaskRecord, message: str) -> bool:
    if task.status in FINAL or task.status == "created":
        return False
    try:
        hub.set_status(task.id, "stopped", message=message, reason="abort", expect=["queued", "in_progress"])
    except (StatusError, NotFound, Conflict):
        return False  # it finished meanwhile
    return True


def _descendants(store: Store, run_id: str) -> list[TaskRecord]:
    found: list[TaskRecord] = []
    parents = [run_id]
    seen = {run_id}
    while parents:
        children: list[TaskRecord] = []
        for parent in parents:
            children.extend(store.query_tasks(TaskQuery(parent=parent, archived=None)))
        children = [c for c in children if c.id not in seen]
        seen.update(c.id for c in children)
        found.extend(children)
        parents = [c.id for c in children]
    return found


def _controller(store: Store, run_id: str) -> TaskRecord:
    task: TaskRecord = store.get_task(run_id)
    if not runformat.is_run(task):
        raise ValidationError(f"task {run_id} is not a pipeline run (its type is {task.type})")
    return task


def _next_name(store: Store, controller: TaskRecord) -> str:
    match = _NUMBERED.match(controller.name)
    base = match.group("base") if match else controller.name
    query = TaskQuery(
        project=controller.project, name_pattern=f"^{re.escape(base)}( #[0-9]+)?$", archived=None, type=None
    )
    count: int = store.count_tasks(query)
    return f"{base} #{count + 1}"


def _cast_argument(name: str, value: object, params: dict[str, Param]) -> Param:
    """`value` as the stored parameter's type; ValidationError naming the argument otherwise."""
    stored = params.get(runformat.arg_key(name))
    if stored is None:
        known = sorted(runformat.args_of(params))
        raise ValidationError(
            f"unknown pipeline argument {name!r}; this pipeline takes: {', '.join(known) or 'none'}"
        )
    cast = arguments.cast(value, stored.type, name=f"pipeline argument {name!r}")
    return Param(value=cast, type=stored.type, description=stored.description)
