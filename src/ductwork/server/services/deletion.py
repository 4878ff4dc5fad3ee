"""Deleting a whole pipeline run: its controller task and every task below it.

A run is its controller task plus the step tasks created under it (and, for a pipeline used as a
step, that step's own steps): each is deleted as `DELETE /api/tasks/{id}` deletes one task, with
its parameters, configuration, artifact records, output models, metrics, console and node
states. Blobs are shared by content between tasks, so their bytes are not removed here; the
blob collector (`artifacts.collect`) removes those no record points at any more.

Who may: the run's owner or an admin, and only when the caller may delete every task below it
too (a step owned by someone else refuses the whole deletion; nothing is deleted then). A run
that is still queued or running is refused: abort it first, so no process writes to a task that
is gone.
"""

from __future__ import annotations

from ductwork.core import runformat
from ductwork.core.errors import NotFound, StatusError, ValidationError
from ductwork.core.queries import TaskQuery
from ductwork.core.records import TaskRecord
from ductwork.server.services import permissions
from ductwork.server.services.hub import Hub

LIVE = ("queued", "in_progress")
MAX_TASKS = 100_000  # tasks below one run that one deletion removes (a guard, not a limit seen)


def delete_run(hub: Hub, run_id: str, *, caller: permissions.User) -> list[str]:
    """Delete run `run_id` and every task below it; answers the deleted task ids, run last."""
    store = hub.store
    run = store.get_task(run_id)
    if not runformat.is_run(run):
        raise ValidationError(f"task {run_id} is not a pipeline run: delete it as a task")
    permissions.require(caller, "delete", permissions.task(run))
    below = _tasks_below(hub, run_id)
    permissions.require_tasks(store, caller, "delete", [t.id for t in below])
    live = [t for t in (run, *below) if t.status in LIVE]
    if live:
        names = ", ".join(f"{t.name!r} ({t.status})" for t in live[:5])
        raise StatusError(f"run {run_id} still has tasks queued or running: {names}; abort the run first")
    deleted = []
    for task in reversed(below):  # the deepest first, the controller last
        try:
            store.delete_task(task.id)
        except NotFound:
            continue  # deleted meanwhile: the outcome is the same
        deleted.append(task.id)
    store.delete_task(run_id)
    deleted.append(run_id)
    hub.touched()
    return deleted


def _tasks_below(hub: Hub, run_id: str) -> list[TaskRecord]:
    """Every task whose parent chain reaches `run_id`, breadth first (archived ones too).

    A run cloned from this one ("Clone as draft") names it as its parent too, yet is a run of
    its own: a child that is a run is below only when it is one of the run's steps (a pipeline
    used as a step), and only such runs are searched for tasks of their own (one query a run,
    not one a step: a 10,000-step run is two queries)."""
    store = hub.store
    found: list[TaskRecord] = []
    seen = {run_id}
    frontier = [run_id]
    while frontier and len(found) < MAX_TASKS:
        parent = frontier.pop(0)
        steps = {node.task_id for node in store.get_nodes(parent) if node.task_id}
        for task in store.query_tasks(TaskQuery(parent=parent, archived=None, order_by="created")):
            nested = runformat.is_run(task)
            if task.id in seen or (nested and task.id not in steps):
                continue
            seen.add(task.id)
            found.append(task)
            if nested:
                frontier.append(task.id)
    return found
