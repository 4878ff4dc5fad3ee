"""Who may do what: one table of rules, checked by every route that changes something.

Four roles (`users.role`):

* `readonly`: reads everything, changes nothing.
* `user`: creates tasks, runs, models, projects and queues; changes, aborts and deletes
  *their own*; may clone or start a NEW RUN of anything they can read (the copy is theirs).
* `agent`: a service account an admin creates for `ductwork agent`. It claims from queues,
  registers its workers and acts on the tasks it runs for whoever owns them (status,
  parameters, console, metrics, artifacts, models, a controller's steps), but it deletes
  nothing and manages no queue. A task it creates under a `parent` belongs to the parent's
  owner, so the steps of a pipeline belong to whoever launched it.
* `admin`: everything, on everyone's objects.

A refusal is `Forbidden` (403) with a sentence that names the caller, the action, the object,
its owner and who may do it instead, so the person reading it knows what is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ductwork.core.errors import Forbidden, NotFound
from ductwork.core.records import ModelRecord, Queue, TaskRecord

if TYPE_CHECKING:
    from ductwork.store.store import Store

ADMIN, USER, READONLY, AGENT = "admin", "user", "readonly", "agent"
ROLES = (ADMIN, USER, READONLY, AGENT)


class Caller(Protocol):
    """Who calls: a store `User` (with `role`), or the `LocalUser` of `ductwork ui` (only `admin`)."""

    @property
    def name(self) -> str: ...
    @property
    def admin(self) -> bool: ...


User = Caller | None  # no caller: an anonymous request, allowed to read at most


@dataclass(frozen=True)
class Rule:
    """`anyone`: roles that may do it to every object; `owners`: roles that may do it to their own."""

    anyone: frozenset[str]
    owners: frozenset[str] = frozenset()
    # Who may, in the refusal's words ("only its owner or an admin may").
    who: str = "an admin"


def _rule(anyone: Iterable[str], owners: Iterable[str] = (), who: str = "an admin") -> Rule:
    return Rule(frozenset(anyone), frozenset(owners), who)


_OWNER_ADMIN_AGENT = "its owner, an admin or an agent running it"
_OWNER_ADMIN = "its owner or an admin"

# action -> rule. Actions on an object name it by kind in the refusal ("task 1a2b of bob").
RULES: dict[str, Rule] = {
    "read": _rule(ROLES),
    # making something new: the caller owns it (an agent's steps: the parent's owner)
    "create": _rule((ADMIN, USER, AGENT), who="an admin, a user or an agent; read-only users may not"),
    # a copy of something readable is the caller's own
    "clone": _rule((ADMIN, USER, AGENT), who="an admin, a user or an agent; read-only users may not"),
    "new run": _rule((ADMIN, USER, AGENT), who="an admin, a user or an agent; read-only users may not"),
    # changing a task or what hangs off it
    "edit": _rule((ADMIN, AGENT), (USER,), _OWNER_ADMIN_AGENT),
    "set the status of": _rule((ADMIN, AGENT), (USER,), _OWNER_ADMIN_AGENT),
    "reset": _rule((ADMIN, AGENT), (USER,), _OWNER_ADMIN_AGENT),
    "abort": _rule((ADMIN, AGENT), (USER,), _OWNER_ADMIN_AGENT),
    "continue": _rule((ADMIN, AGENT), (USER,), _OWNER_ADMIN_AGENT),
    "enqueue": _rule((ADMIN, AGENT), (USER,), _OWNER_ADMIN_AGENT),
    "dequeue": _rule((ADMIN, AGENT), (USER,), _OWNER_ADMIN_AGENT),
    "write to": _rule((ADMIN, AGENT), (USER,), _OWNER_ADMIN_AGENT),
    "add a child to": _rule((ADMIN, AGENT), (USER,), _OWNER_ADMIN_AGENT),
    "delete": _rule((ADMIN,), (USER,), _OWNER_ADMIN),
    # queues: anyone who may create may add one (a pipeline adds its steps' queues on demand);
    # deleting one is for whoever added it, or an admin
    "delete queue": _rule((ADMIN,), (USER,), _OWNER_ADMIN),
    # running work
    "claim tasks from": _rule((ADMIN, AGENT), who="an agent or an admin"),
    "manage workers": _rule((ADMIN, AGENT), who="an agent or an admin"),
    # users, keys, server settings
    "manage users": _rule((ADMIN,)),
}


@dataclass(frozen=True)
class Target:
    """The object of an action: its kind ("task", "queue", "model", "run"), id and owner."""

    kind: str
    id: str
    owner: str

    def describe(self) -> str:
        shown = self.id if len(self.id) <= 12 else self.id[:8] + "…"
        whose = f" of {self.owner}" if self.owner else " (no owner recorded)"
        return f"{self.kind} {shown}{whose}"


def role_of(user: User) -> str:
    """The caller's role; a caller with only the old `admin` flag (`ductwork ui`) is an admin.
    Anything else unknown (no caller, a role this server does not know) gets the least: read."""
    role = getattr(user, "role", None)
    if role in ROLES:
        return str(role)
    return ADMIN if getattr(user, "admin", False) is True else READONLY


def name_of(user: User) -> str:
    return str(getattr(user, "name", "") or "")


def refusal(user: User, action: str, target: Target | None = None, *, noun: str = "") -> str | None:
    """Why `user` may not do `action` (to `target`, else to `noun`: "queues"), or None if they may."""
    rule = RULES[action]
    role = role_of(user)
    if role in rule.anyone:
        return None
    owner = target.owner if target is not None else ""
    if role in rule.owners and target is not None and owner and owner == name_of(user):
        return None
    who = name_of(user) or "this caller"
    verb = action.removesuffix(" queue") if action == "delete queue" else action
    what = f"{verb} {target.describe()}" if target is not None else f"{action} {noun}".strip()
    if role == READONLY:
        return f"{who} may not {what}: {who} is a read-only user"
    return f"{who} may not {what}: only {rule.who} may"


def allowed(user: User, action: str, target: Target | None = None) -> bool:
    return refusal(user, action, target) is None


def require(user: User, action: str, target: Target | None = None, *, noun: str = "") -> None:
    """Raise `Forbidden` (a 403 saying what is missing) unless `user` may do `action`."""
    reason = refusal(user, action, target, noun=noun)
    if reason is not None:
        raise Forbidden(reason)


def acts_for_everyone(user: User, action: str) -> bool:
    """Whether `user` may do `action` to any object (no owner lookup needed)."""
    return role_of(user) in RULES[action].anyone


def owner_of_new(user: User, parent_owner: str | None) -> str:
    """Who owns an object `user` creates: the caller, except that an agent's task made under a
    parent belongs to the parent's owner (the steps of a pipeline belong to whoever ran it)."""
    if role_of(user) == AGENT and parent_owner is not None:
        return parent_owner
    return name_of(user)


def task(record: TaskRecord) -> Target:
    return Target("task", str(record.id), str(getattr(record, "user", "") or ""))


def run(record: TaskRecord) -> Target:
    return Target("run", str(record.id), str(getattr(record, "user", "") or ""))


def model(record: ModelRecord) -> Target:
    return Target("model", str(record.id), str(getattr(record, "user", "") or ""))


def queue(record: Queue) -> Target:
    return Target("queue", str(record.name), str(getattr(record, "user", "") or ""))


# -- checks that look the object up (called in a worker thread, before the change) ----------
#
# Admins and agents act on every object, so their calls cost no extra query; a user's call
# reads the owner first. The owner of a task, model or queue never changes after creation
# (the API refuses to edit it), so the check cannot go stale before the change it guards.


def require_task(store: Store, user: User, action: str, task_id: str) -> None:
    """`require` for task `task_id` (404 first when there is no such task)."""
    if acts_for_everyone(user, action):
        return
    require(user, action, task(store.get_task(task_id)))


CONTROLLER_WORKER = "controller:"


def require_worker(
    store: Store, user: User, worker_id: str, task_id: str | None, queues: Collection[str] = ()
) -> None:
    """`require(..., "manage workers")`, with one exception for users: the heartbeat of a
    controller they run themselves (`controller:<host>:<pid>:<task id>`, serving no queue, for
    a task of theirs), so a user's local controller that dies is found by the server too."""
    if acts_for_everyone(user, "manage workers"):
        return
    own_controller = (
        worker_id.startswith(CONTROLLER_WORKER)
        and bool(task_id)
        and worker_id.endswith(f":{task_id}")
        and not queues
    )
    if not own_controller or task_id is None:
        require(user, "manage workers")
        return
    require_task(store, user, "write to", task_id)


def require_delete_task(store: Store, user: User, task_id: str) -> None:
    """`require(..., "delete", ...)`, with one exception for agents: a controller running on an
    agent may delete a step it has just created and not started (ClearML's
    `step_task_created_callback` returning False does that). So an agent deletes a task only
    while it is a draft whose parent is running, never one that ran or holds results."""
    if acts_for_everyone(user, "delete"):
        return
    record = store.get_task(task_id)
    if role_of(user) == AGENT and record.status == "created" and record.parent:
        try:
            parent = store.get_task(record.parent)
        except NotFound:
            parent = None
        if parent is not None and parent.status == "in_progress":
            return
    require(user, "delete", task(record))


def require_tasks(store: Store, user: User, action: str, task_ids: Iterable[str]) -> None:
    """`require` for each of `task_ids` in one query (unknown ids are left to the write's 404)."""
    _require_each(store, user, action, task_ids, task, "tasks")


def require_run(store: Store, user: User, action: str, run_id: str) -> None:
    if acts_for_everyone(user, action):
        return
    require(user, action, run(store.get_task(run_id)))


def require_runs(store: Store, user: User, action: str, run_ids: Iterable[str]) -> None:
    _require_each(store, user, action, run_ids, run, "runs")


def _require_each(
    store: Store,
    user: User,
    action: str,
    ids: Iterable[str],
    target: Callable[[TaskRecord], Target],
    noun: str,
) -> None:
    if acts_for_everyone(user, action):
        return
    if role_of(user) not in RULES[action].owners:
        require(user, action, noun=noun)  # the role itself may not (read-only)
    for found in store.get_tasks(sorted(set(ids))):
        require(user, action, target(found))


def require_queue(store: Store, user: User, action: str, name: str) -> None:
    if acts_for_everyone(user, action):
        return
    require(user, action, queue(store.get_queue(name)))


def owner_for(store: Store, user: User, parent_id: str | None) -> str:
    """`owner_of_new` for a task made under `parent_id` (read only when the caller is an agent)."""
    if role_of(user) != AGENT or not parent_id:
        return name_of(user)
    try:
        parent = store.get_task(parent_id)
    except NotFound:  # a parent is a plain reference (no foreign key): the agent's own then
        return name_of(user)
    return owner_of_new(user, str(parent.user or ""))
