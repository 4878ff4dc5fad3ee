"""A server remembers which tokens it has already verified (scrypt is paid once a token per
process): that memory must never outlive a revocation or admit a token it did not verify.

Each test first makes the server verify (and remember) a real token, then attacks with what
an attacker could derive from it or after it ended.
"""

from __future__ import annotations

import uuid

from attack import ServerProcess


def _new_key(server: ServerProcess, user: str) -> str:
    return server.cli("keys", "create", "--user", user, "--name", f"k-{uuid.uuid4().hex[:6]}").stdout.strip()


def _whoami(server: ServerProcess, token: str) -> int:
    with server.client(token) as client:
        return client.get("/api/whoami").status_code


def test_a_key_revoked_by_another_process_is_refused_at_once(server: ServerProcess) -> None:
    key = _new_key(server, "bob")
    for _ in range(3):  # verified, remembered, used from memory
        assert _whoami(server, key) == 200
    server.cli("keys", "revoke", key.partition(".")[0])  # the CLI's own process, on the store
    assert _whoami(server, key) == 401


def test_a_remembered_key_id_with_another_secret_is_refused(server: ServerProcess) -> None:
    bob, alice = _new_key(server, "bob"), server.alice.key
    assert _whoami(server, bob) == 200
    assert _whoami(server, alice) == 200
    bob_id, _, bob_secret = bob.partition(".")
    alice_id, _, alice_secret = alice.partition(".")
    # Alice's verified secret under bob's key id, and bob's under alice's: neither proves a key.
    assert _whoami(server, f"{bob_id}.{alice_secret}") == 401
    assert _whoami(server, f"{alice_id}.{bob_secret}") == 401
    assert _whoami(server, f"{bob_id}.{bob_secret[:-1]}") == 401
    with server.client(bob) as client:  # the remembered key still names its own user only
        assert client.get("/api/whoami").json()["name"] == "bob"


def test_a_remembered_api_key_in_the_cookie_is_not_a_session(server: ServerProcess) -> None:
    key = server.alice.key
    assert _whoami(server, key) == 200
    with server.client(cookies={"ductwork_session": key}) as client:
        assert client.get("/api/whoami").status_code == 401


def test_an_ended_session_cookie_is_refused_at_once_and_a_forged_one_never_admits(
    server: ServerProcess,
) -> None:
    browser = server.login("bob", server.bob.password)
    cookie = browser.cookies["ductwork_session"]
    for _ in range(2):
        assert browser.get("/api/whoami").status_code == 200
    key_id, _, secret = cookie.partition(".")
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    with server.client(cookies={"ductwork_session": f"{key_id}.{flipped}"}) as forged:
        assert forged.get("/api/whoami").status_code == 401
    server.cli("keys", "revoke", key_id)  # ended from another process
    with server.client(cookies={"ductwork_session": cookie}) as replayed:
        assert replayed.get("/api/whoami").status_code == 401
