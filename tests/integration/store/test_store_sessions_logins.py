"""Web sessions and failed logins in the store (SQLite and PostgreSQL): equal work for unknown
users, idle and absolute expiry, logout of a proven session only, back-off counts."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import pytest

from ductwork.store import accounts


@pytest.fixture
def scrypt_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts real scrypt runs (each one is still computed)."""
    calls: list[int] = []
    real = hashlib.scrypt

    def counting(*args: Any, **kwargs: Any) -> bytes:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counting)
    return calls


def test_unknown_and_known_users_cost_one_scrypt_each(store: Any, scrypt_calls: list[int]) -> None:
    store.create_user("alice", password="wonderland")
    store.create_user("robot", role="agent")  # no password at all
    accounts._dummy_hash()  # made once per process, before the first unknown name
    for name, password, expected in (
        ("alice", "wrong-password", False),
        ("nobody", "wrong-password", False),
        ("robot", "wrong-password", False),
        ("alice", "wonderland", True),
    ):
        scrypt_calls.clear()
        user = store.verify_password(name, password)
        assert (user is not None) is expected, name
        assert len(scrypt_calls) == 1, (name, len(scrypt_calls))


def _session(store: Any, name: str = "alice", lifetime: float = 3600.0) -> str:
    return str(store.create_session(name, name="web session", expires=time.time() + lifetime).token)


def _set(store: Any, token: str, **values: float) -> None:
    with store._db.write() as conn:
        sets = ", ".join(f"{name} = :{name}" for name in values)
        conn.count(
            f"UPDATE api_keys SET {sets} WHERE id = :key_id", {**values, "key_id": token.partition(".")[0]}
        )


def test_sessions_end_when_idle_or_too_old(store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    store.create_user("alice", password="wonderland")
    token = _session(store)
    assert store.check_token(token).user.name == "alice"
    # Unused for longer than the idle limit: ended.
    monkeypatch.setenv("DUCTWORK_SESSION_IDLE", "1h")
    _set(store, token, last_used=time.time() - 3700)
    assert store.check_token(token).reason == "expired"
    # Used recently, but logged in longer ago than the absolute limit: ended too.
    fresh = _session(store)
    monkeypatch.setenv("DUCTWORK_SESSION_MAX", "2h")
    _set(store, fresh, created=time.time() - 7300, last_used=time.time())
    assert store.check_token(fresh).reason == "expired"
    # The expiry stored at login holds even if the setting is raised later.
    stored = _session(store, lifetime=60)
    _set(store, stored, expires=time.time() - 1)
    monkeypatch.setenv("DUCTWORK_SESSION_MAX", "30d")
    assert store.check_token(stored).reason == "expired"
    # API keys have no idle or absolute limit.
    key = store.create_api_key("alice").token
    with store._db.write() as conn:
        conn.count("UPDATE api_keys SET created = 0.0, last_used = 0.0 WHERE kind = 'key'")
    assert store.check_token(key).user is not None


def test_last_use_is_written_at_most_once_a_minute(store: Any) -> None:
    store.create_user("alice", password="wonderland")
    token = _session(store)
    for _ in range(3):
        checked = store.check_token(token)
        assert checked.user is not None and not checked.touch  # used just now: no write
    _set(store, token, last_used=time.time() - 61)
    assert store.check_token(token).touch  # due: written by this check
    assert not store.check_token(token).touch  # and so not again
    key = store.create_api_key("alice").token
    _set(store, key, last_used=0.0)
    assert not store.check_token(key).touch  # API keys do not record use per request


def test_ending_a_session_needs_the_whole_token_and_a_session(store: Any) -> None:
    store.create_user("alice", password="wonderland")
    store.create_user("bob", password="builder12")
    alice = _session(store)
    bob = _session(store, "bob")
    bob_key = store.create_api_key("bob").token
    for forged in (
        f"{bob.partition('.')[0]}.wrong",
        f"{bob_key.partition('.')[0]}.wrong",
        bob_key,  # a real key, but not a session
        "garbage",
        "",
    ):
        assert store.end_session(forged) is False
    assert store.check_token(bob).user is not None and store.check_token(bob_key).user is not None
    assert store.end_session(alice) is True
    assert store.check_token(alice).reason == "revoked"
    assert store.end_session(alice) is False  # already ended


def test_everywhere_and_new_password_end_only_that_users_sessions(store: Any) -> None:
    store.create_user("alice", password="wonderland")
    store.create_user("bob", password="builder12")
    first, second, bobs = _session(store), _session(store), _session(store, "bob")
    key = store.create_api_key("alice").token
    assert store.end_user_sessions("alice") == 2
    assert store.check_token(first).user is None and store.check_token(second).user is None
    assert store.check_token(bobs).user is not None and store.check_token(key).user is not None
    third = _session(store)
    assert store.set_password("alice", "new-password-1") == 1
    assert store.check_token(third).user is None and store.check_token(key).user is not None
    assert store.verify_password("alice", "wonderland") is None
    assert store.verify_password("alice", "new-password-1") is not None


def test_failures_back_off_doubling_and_clear(store: Any) -> None:
    subject = "user:alice"
    waits = [store.record_failure([(subject, 3)], backoff=10, longest=300) for _ in range(6)]
    assert waits == [0.0, 0.0, 10.0, 20.0, 40.0, 80.0]
    assert 70 < store.login_wait([subject, "addr:10.0.0.1"]) <= 80
    assert store.login_wait(["addr:10.0.0.1"]) == 0.0
    capped = [store.record_failure([(subject, 3)], backoff=10, longest=300) for _ in range(3)]
    assert capped == [160.0, 300.0, 300.0]
    store.clear_failures([subject])
    assert store.login_wait([subject]) == 0.0
    assert store.record_failure([(subject, 3)], backoff=10, longest=300) == 0.0
