"""Users and API keys."""

from __future__ import annotations

import pytest

from ductwork.core.errors import Conflict, NotFound, ValidationError
from ductwork.store import Store


def test_users(store: Store) -> None:
    admin = store.create_user("admin", password="s3cret", admin=True)
    assert admin.admin and store.get_user("admin") == admin
    with pytest.raises(Conflict, match="'admin'"):
        store.create_user("admin")
    with pytest.raises(NotFound, match="'nobody'"):
        store.get_user("nobody")
    with pytest.raises(ValidationError):
        store.create_user(" ")
    assert store.verify_password("admin", "s3cret") == admin
    assert store.verify_password("admin", "wrong") is None
    assert store.verify_password("nobody", "s3cret") is None
    store.create_user("nopass")
    assert store.verify_password("nopass", "") is None
    assert [u.name for u in store.list_users()] == ["admin", "nopass"]


def test_api_keys(store: Store) -> None:
    store.create_user("ann")
    store.create_user("bob")
    new = store.create_api_key("ann", name="laptop")
    assert new.token == f"{new.key.id}.{new.secret}" and new.key.user == "ann"
    assert store.verify_api_key(new.token).name == "ann"  # type: ignore[union-attr]
    assert store.verify_api_key(new.token).name == "ann"  # type: ignore[union-attr]  # cached path
    wrong_tokens = (
        new.token + "x",
        new.key.id + ".",
        new.secret,
        "",
        "dkdeadbeef.x",
        f"{new.key.id}.{'A' * 43}",
    )
    for wrong in wrong_tokens:
        assert store.verify_api_key(wrong) is None, wrong
    other = store.create_api_key("bob")
    assert [(k.id, k.user, k.name) for k in store.list_api_keys("ann")] == [(new.key.id, "ann", "laptop")]
    assert len(store.list_api_keys()) == 2
    # nothing stored reveals the secret
    assert all(new.secret not in repr(k) for k in store.list_api_keys())
    store.revoke_api_key(new.key.id)
    assert store.verify_api_key(new.token) is None
    store.revoke_api_key(new.key.id)  # idempotent
    assert store.list_api_keys("ann")[0].revoked is not None
    assert store.verify_api_key(other.token).name == "bob"  # type: ignore[union-attr]
    with pytest.raises(NotFound, match="'dkmissing'"):
        store.revoke_api_key("dkmissing")
    with pytest.raises(NotFound, match="'carl'"):
        store.create_api_key("carl")


def test_a_second_store_verifies_keys_it_did_not_create(store: Store) -> None:
    store.create_user("ann")
    new = store.create_api_key("ann")
    fresh = Store(store.url)
    try:
        assert fresh.verify_api_key(new.token).name == "ann"  # type: ignore[union-attr]
        store.revoke_api_key(new.key.id)
        assert fresh.verify_api_key(new.token) is None
    finally:
        fresh.close()


def test_roles(store: Store) -> None:
    assert store.create_user("root", admin=True).role == "admin"
    assert store.create_user("ann").role == "user"
    carol = store.create_user("carol", role="readonly")
    assert (carol.role, carol.admin) == ("readonly", False)
    assert store.create_user("runner", role="agent").role == "agent"
    with pytest.raises(ValidationError, match="role must be one of"):
        store.create_user("eve", role="superuser")
    # the admin column follows the role both ways
    promoted = store.set_role("ann", "admin")
    assert (promoted.role, promoted.admin) == ("admin", True)
    demoted = store.set_role("root", "readonly")
    assert (demoted.role, demoted.admin) == ("readonly", False)
    assert store.get_user("root") == demoted
    with pytest.raises(NotFound, match="'nobody'"):
        store.set_role("nobody", "user")
    with pytest.raises(ValidationError):
        store.set_role("ann", "owner")
    key = store.create_api_key("carol")
    assert store.verify_api_key(key.token).role == "readonly"  # type: ignore[union-attr]
    assert {u.name: u.role for u in store.list_users()}["runner"] == "agent"
    # a queue records who added it (the server passes the caller; over HTTP it is the key's user)
    assert store.ensure_queue("gpu", user="ann").user == "ann"
    # ensuring an existing queue leaves its owner alone
    assert store.ensure_queue("gpu", user="bob").user == "ann"
    assert store.get_queue("gpu").user == "ann"
    assert store.ensure_queue("cpu").user == ""
