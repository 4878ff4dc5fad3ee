"""Finding 4 (CSRF) and the logout part of finding 6, attacked over HTTP on a real server.

The attacker's page lives on another port of the same host: the browser sends the victim's
session cookie with its form posts (same site), and an `Origin` naming that other port. Every
state-changing browser route must refuse it, and the object must stay as it was.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from attack import ServerProcess, free_port

from ductwork.server.services.csrf import token_for


def evil_origin() -> str:
    return f"http://127.0.0.1:{free_port()}"


def csrf_token(browser: httpx.Client) -> str:
    page = browser.get("/pipelines")
    assert page.status_code == 200, page.text[:300]
    found = re.search(r'<meta name="csrf-token" content="([0-9a-f]+)">', page.text)
    assert found, "the page carries no CSRF token"
    return found.group(1)


@pytest.fixture
def queued_task(server: ServerProcess, task_of: Any) -> dict[str, Any]:
    """A task of alice's, waiting on a queue (abortable, dequeueable)."""
    queue = f"q-{uuid.uuid4().hex[:6]}"
    with server.client(server.admin.key) as admin:
        assert admin.post("/api/queues", json={"name": queue}).status_code == 200
    task = task_of(server.alice, tags=["keep"])
    with server.client(server.alice.key) as alice:
        answer = alice.post(f"/api/queues/{queue}/entries", json={"task_id": task["id"]})
        assert answer.status_code == 200, answer.text
        return dict(alice.get(f"/api/tasks/{task['id']}").json())


def state_changes(task_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Every kind of change a browser session can ask for: (method, path, form body)."""
    return [
        ("POST", f"/api/runs/{task_id}/abort", {}),
        ("POST", f"/api/tasks/{task_id}/abort", {}),
        ("POST", f"/api/tasks/{task_id}/dequeue", {}),
        ("POST", f"/api/tasks/{task_id}/clone", {}),
        ("POST", f"/api/runs/{task_id}/continue", {}),
        ("PATCH", f"/api/tasks/{task_id}", {"archived": "true"}),
        ("DELETE", f"/api/tasks/{task_id}", {}),
        ("POST", f"/runs/{task_id}/new", {"queue": "default"}),
        (
            "POST",
            "/account/password",
            {"current": "x", "new": "attacker-chosen-1", "confirm": "attacker-chosen-1"},
        ),
        ("POST", "/logout/everywhere", {}),
        ("POST", "/logout", {}),
    ]


def assert_untouched(server: ServerProcess, before: dict[str, Any], victim: httpx.Client) -> None:
    with server.client(server.alice.key) as alice:
        now = alice.get(f"/api/tasks/{before['id']}")
        assert now.status_code == 200, "the task is gone"
        after = now.json()
        for field in ("status", "archived", "tags", "queue", "name"):
            assert after[field] == before[field], field
        same_name = {"name_pattern": re.escape(before["name"]), "archived": None}
        clones = alice.post("/api/tasks/query", json=same_name).json()
        assert [t["id"] for t in clones] == [before["id"]], "a clone or a new run was made"
    # The victim is still logged in with the same password.
    assert victim.get("/api/whoami").status_code == 200
    server.login("alice", server.alice.password).close()


def test_cross_origin_posts_with_the_victims_cookie_are_refused(
    server: ServerProcess, queued_task: dict[str, Any]
) -> None:
    victim = server.login("alice", server.alice.password)
    token = csrf_token(victim)
    for method, path, form in state_changes(queued_task["id"]):
        # A plain HTML form on the attacker's page, and one that even knows the token: the
        # origin alone refuses both.
        for extra in ({}, {"csrf_token": token}):
            answer = victim.request(method, path, data={**form, **extra}, headers={"Origin": evil_origin()})
            assert answer.status_code == 403, (method, path, answer.status_code, answer.text[:200])
            assert "another origin" in answer.text
    # Without an Origin, a foreign Referer is refused the same way.
    answer = victim.post(
        f"/api/tasks/{queued_task['id']}/abort", headers={"Referer": f"{evil_origin()}/attack.html"}
    )
    assert answer.status_code == 403 and "another origin" in answer.text
    # An opaque origin (a sandboxed frame, a data: page) is not ours either.
    answer = victim.post(f"/api/tasks/{queued_task['id']}/abort", headers={"Origin": "null"})
    assert answer.status_code == 403
    assert_untouched(server, queued_task, victim)


def test_same_origin_needs_the_token_and_works_with_it(
    server: ServerProcess, queued_task: dict[str, Any]
) -> None:
    victim = server.login("alice", server.alice.password)
    token = csrf_token(victim)
    same = {"Origin": server.url}
    for method, path, form in state_changes(queued_task["id"]):
        missing = victim.request(method, path, data=form, headers=same)
        assert missing.status_code == 403 and "no CSRF token" in missing.text, (path, missing.text[:200])
        wrong = victim.request(method, path, data=form, headers={**same, "X-CSRF-Token": "0" * 64})
        assert wrong.status_code == 403 and "does not belong" in wrong.text, path
    # No origin at all (neither Origin nor Referer): refused even with the token.
    bare = victim.post(f"/api/tasks/{queued_task['id']}/abort", headers={"X-CSRF-Token": token})
    assert bare.status_code == 403 and "names no origin" in bare.text
    # Another session's token does not fit this session.
    other = server.login("bob", server.bob.password)
    borrowed = victim.patch(
        f"/api/tasks/{queued_task['id']}",
        json={"archived": True},
        headers={**same, "X-CSRF-Token": csrf_token(other)},
    )
    assert borrowed.status_code == 403
    assert_untouched(server, queued_task, victim)

    # With the token, as the UI's scripts send it (header) and its forms (field), it works.
    ok = victim.patch(
        f"/api/tasks/{queued_task['id']}", json={"archived": True}, headers={**same, "X-CSRF-Token": token}
    )
    assert ok.status_code == 200 and ok.json()["archived"] is True
    referer_only = victim.patch(
        f"/api/tasks/{queued_task['id']}",
        json={"archived": False},
        headers={"Referer": f"{server.url}/runs/x", "X-CSRF-Token": token},
    )
    assert referer_only.status_code == 200 and referer_only.json()["archived"] is False
    logout = victim.post("/logout", data={"csrf_token": token}, headers=same)
    assert logout.status_code == 303
    assert victim.get("/api/whoami").status_code == 401


def test_the_token_is_a_digest_of_the_session(server: ServerProcess) -> None:
    victim = server.login("alice", server.alice.password)
    session = victim.cookies["ductwork_session"]
    assert csrf_token(victim) == token_for(session) != session
    assert session not in victim.get("/pipelines").text  # the page never shows the session itself


def test_api_keys_need_no_token(server: ServerProcess, task_of: Any) -> None:
    task = task_of(server.alice)
    with server.client(server.alice.key) as alice:
        answer = alice.patch(f"/api/tasks/{task['id']}", json={"tags": ["by-key"]})
        assert answer.status_code == 200 and answer.json()["tags"] == ["by-key"]
    # A key request with a cookie too is still a key request (no page can set the header).
    with server.client(server.alice.key, cookies={"ductwork_session": "dk0.garbage"}) as both:
        answer = both.patch(
            f"/api/tasks/{task['id']}", json={"tags": ["both"]}, headers={"Origin": evil_origin()}
        )
        assert answer.status_code == 200 and answer.json()["tags"] == ["both"]


def test_login_from_another_origin_is_refused(server: ServerProcess) -> None:
    """Login CSRF: a foreign page must not sign the victim's browser in as the attacker."""
    with httpx.Client(base_url=server.url, headers={"Accept": "text/html"}) as browser:
        form = {"username": "bob", "password": server.bob.password, "next": "/"}
        refused = browser.post("/login", data=form, headers={"Origin": evil_origin()})
        assert refused.status_code == 403 and "another origin" in refused.text
        assert "<h1>Refused</h1>" in refused.text  # a page for a browser
        assert not browser.cookies.get("ductwork_session")
        no_origin = browser.post("/login", data=form)
        assert no_origin.status_code == 403 and not browser.cookies.get("ductwork_session")


def test_refusals_are_json_for_api_paths(server: ServerProcess, task_of: Any) -> None:
    task = task_of(server.alice)
    victim = server.login("alice", server.alice.password)
    answer = victim.post(
        f"/api/tasks/{task['id']}/abort", headers={"Origin": evil_origin(), "Accept": "application/json"}
    )
    assert answer.status_code == 403
    assert answer.json()["error"] == "Forbidden" and "Nothing was changed" in answer.json()["message"]


def test_logout_ends_only_the_session_the_cookie_proves(server: ServerProcess) -> None:
    """Finding 6: a forged cookie (another user's key id with a wrong secret, the admin's API key
    id, garbage) ends nothing; neither does another user's real API key in the cookie."""
    admin_session = server.login("admin", server.admin.password)
    bob_session = server.login("bob", server.bob.password)
    admin_session_id = admin_session.cookies["ductwork_session"].partition(".")[0]
    forged = [
        f"{admin_session_id}.not-the-secret",
        f"{server.admin.key.partition('.')[0]}.not-the-secret",
        f"{server.bob.key.partition('.')[0]}.x",
        server.bob.key,  # a real API key is not a session
        "garbage",
        "dk",
        "",
    ]
    for cookie in forged:
        with httpx.Client(base_url=server.url, headers={"Accept": "text/html"}) as attacker:
            attacker.cookies.set("ductwork_session", cookie)
            answer = attacker.post("/logout", headers={"Origin": server.url})
            assert answer.status_code in (303, 401), answer.status_code
    assert admin_session.get("/api/whoami").json()["name"] == "admin"
    assert bob_session.get("/api/whoami").json()["name"] == "bob"
    for account in (server.admin, server.bob):
        with server.client(account.key) as client:
            assert client.get("/api/whoami").status_code == 200
    # Bob logging out ends bob's session only; his API key keeps working.
    assert bob_session.post(
        "/logout", data={"csrf_token": csrf_token(bob_session)}, headers={"Origin": server.url}
    )
    assert bob_session.get("/api/whoami").status_code == 401
    assert admin_session.get("/api/whoami").json()["name"] == "admin"
    with server.client(server.bob.key) as bob:
        assert bob.get("/api/whoami").status_code == 200
