"""The role and ownership rules on their own: who may do what, and what a refusal says."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from ductwork.core.errors import Forbidden
from ductwork.server.services import permissions as p
from ductwork.store import accounts


@dataclass
class Caller:
    name: str
    role: str


ALICE, BOB = Caller("alice", "user"), Caller("bob", "user")
CAROL, ROOT, RUNNER = Caller("carol", "readonly"), Caller("root", "admin"), Caller("runner", "agent")
BOBS_TASK = p.Target("task", "0123456789abcdef0123456789abcdef", "bob")
OWNED_ACTIONS = [action for action, rule in p.RULES.items() if rule.owners]


def test_the_policy_knows_the_roles_the_store_keeps() -> None:
    assert set(p.ROLES) == set(accounts.ROLES)


@pytest.mark.parametrize("action", OWNED_ACTIONS)
def test_a_user_acts_on_their_own_objects_only(action: str) -> None:
    assert p.allowed(BOB, action, BOBS_TASK)
    assert not p.allowed(ALICE, action, BOBS_TASK)
    assert p.allowed(ROOT, action, BOBS_TASK)
    assert not p.allowed(CAROL, action, BOBS_TASK)


def test_an_object_without_a_recorded_owner_is_no_users() -> None:
    unowned = p.Target("task", "t1", "")
    assert not p.allowed(Caller("", "user"), "edit", unowned)
    assert p.allowed(ROOT, "edit", unowned)


def test_read_only_reads_and_nothing_else() -> None:
    assert p.allowed(CAROL, "read")
    assert [a for a in p.RULES if p.allowed(CAROL, a, p.Target("task", "t", "carol"))] == ["read"]


def test_an_agent_acts_on_tasks_but_deletes_and_manages_nothing() -> None:
    for action in ("edit", "set the status of", "abort", "write to", "enqueue", "claim tasks from"):
        assert p.allowed(RUNNER, action, BOBS_TASK), action
    for action in ("delete", "delete queue", "manage users"):
        assert not p.allowed(RUNNER, action, BOBS_TASK), action


def test_claims_workers_and_users_need_a_role_not_ownership() -> None:
    for caller in (ALICE, CAROL):
        assert not p.allowed(caller, "claim tasks from")
        assert not p.allowed(caller, "manage workers")
    assert p.allowed(RUNNER, "manage workers") and p.allowed(ROOT, "claim tasks from")
    assert [c.name for c in (ALICE, CAROL, RUNNER, ROOT) if p.allowed(c, "manage users")] == ["root"]


def test_a_refusal_says_who_what_whose_and_who_may() -> None:
    with pytest.raises(Forbidden) as refused:
        p.require(ALICE, "abort", BOBS_TASK)
    assert str(refused.value) == (
        "alice may not abort task 01234567… of bob: only its owner, an admin or an agent running it may"
    )
    assert p.refusal(ALICE, "delete queue", p.Target("queue", "gpu", "bob")) == (
        "alice may not delete queue gpu of bob: only its owner or an admin may"
    )
    assert (
        p.refusal(CAROL, "write to", noun="tasks")
        == "carol may not write to tasks: carol is a read-only user"
    )
    assert p.refusal(ALICE, "claim tasks from", noun="queues") == (
        "alice may not claim tasks from queues: only an agent or an admin may"
    )
    assert p.refusal(ALICE, "edit", p.Target("task", "t1", "")) == (
        "alice may not edit task t1 (no owner recorded): only its owner, an admin or an agent running it may"
    )


def test_roles_from_older_callers() -> None:
    @dataclass
    class LocalUser:  # `ductwork ui`: no role, the admin flag
        name: str
        admin: bool = True

    assert p.role_of(LocalUser("me")) == "admin"
    assert p.role_of(Caller("x", "superuser")) == "readonly"  # an unknown role gets the least
    assert p.role_of(None) == "readonly" and not p.allowed(None, "create")


def test_who_owns_what_is_created() -> None:
    assert p.owner_of_new(ALICE, "bob") == "alice"  # a user's task under bob's is still alice's
    assert p.owner_of_new(RUNNER, "alice") == "alice"  # an agent's step is the run owner's
    assert p.owner_of_new(RUNNER, None) == "runner"
    assert p.owner_of_new(ROOT, "alice") == "root"
