"""Auth on `ductwork server`: no key, a wrong key and a revoked key are refused; the caller's
user is recorded on the tasks and runs it creates."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from ductwork.client.http import AuthError, HttpBackend
from ductwork.core.records import TaskRecord


def test_health_needs_no_key(live_server: Any) -> None:
    answer = httpx.get(f"{live_server.url}/api/health")
    assert answer.status_code == 200 and answer.json()["status"] == "ok"


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer dk0000.wrong"}, {"Authorization": "Basic x"}]
)
def test_api_refuses_missing_or_wrong_key(live_server: Any, headers: dict[str, str]) -> None:
    answer = httpx.get(f"{live_server.url}/api/projects", headers=headers)
    assert answer.status_code == 401
    assert answer.json()["error"] == "Unauthorized"


def test_wrong_secret_of_a_real_key_is_refused(live_server: Any) -> None:
    key_id = live_server.key.partition(".")[0]
    with pytest.raises(AuthError):
        HttpBackend(live_server.url, f"{key_id}.not-the-secret").list_projects()


def test_revoked_key_is_refused_at_once(live_server: Any) -> None:
    created = live_server.store.create_api_key("alice", name="laptop")
    backend = HttpBackend(live_server.url, created.token)
    assert backend.list_projects() == []
    live_server.store.revoke_api_key(created.key.id)
    with pytest.raises(AuthError):
        backend.list_projects()


def test_browser_page_without_session_goes_to_login(live_server: Any) -> None:
    answer = httpx.get(f"{live_server.url}/runs/x", headers={"Accept": "text/html"})
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=")


def test_session_cookie_admits_and_ends(live_server: Any) -> None:
    from ductwork.server.services import auth

    assert auth.authenticate_password(live_server.store, "alice", "wrong") is None
    user = auth.authenticate_password(live_server.store, "alice", "wonderland")
    assert user is not None and user.name == "alice"
    token = auth.new_session(live_server.store, user.name)
    cookies = {auth.SESSION_COOKIE: token}
    assert httpx.get(f"{live_server.url}/api/whoami", cookies=cookies).json()["name"] == "alice"
    auth.end_session(live_server.store, token)
    assert httpx.get(f"{live_server.url}/api/whoami", cookies=cookies).status_code == 401


def test_tasks_and_clones_record_the_callers_user(live_server: Any) -> None:
    live_server.store.create_user("bob", password="builder1")
    bob = HttpBackend(live_server.url, live_server.store.create_api_key("bob").token)
    alice = HttpBackend(live_server.url, live_server.key)
    made = bob.create_task(TaskRecord(name="t", user="mallory"))  # a claimed user is ignored
    assert made.user == "bob"
    assert alice.clone_task(made.id).user == "alice"
    answer = httpx.patch(
        f"{live_server.url}/api/tasks/{made.id}",
        json={"user": "mallory"},
        headers={"Authorization": f"Bearer {live_server.key}"},
    )
    assert answer.status_code == 422 and "user" in answer.json()["message"]


def test_ui_mode_needs_no_key_and_names_the_local_user(sqlite_store: Any) -> None:
    from fastapi.testclient import TestClient

    from ductwork.server.app import create_app

    with TestClient(create_app(store=sqlite_store, auth=False)) as client:
        assert client.get("/api/projects").status_code == 200
        assert client.get("/api/whoami").json()["name"]
        made = client.post("/api/tasks", json={"name": "x"}).json()
        assert made["user"] == client.get("/api/whoami").json()["name"]


def test_ui_refuses_a_public_address() -> None:
    from click.testing import CliRunner

    from ductwork.server.commands import is_loopback, ui_command

    assert is_loopback("127.0.0.1") and is_loopback("::1") and not is_loopback("0.0.0.0")
    result = CliRunner().invoke(ui_command, ["--host", "0.0.0.0"])
    assert result.exit_code != 0 and "not a loopback address" in result.output


def test_first_start_creates_an_admin_key_once(sqlite_store: Any) -> None:
    from ductwork.server.commands import bootstrap_admin

    printed: list[str] = []
    token = bootstrap_admin(sqlite_store, echo=printed.append)
    assert token and any(token in line for line in printed)
    assert sqlite_store.verify_api_key(token).name == "admin"
    assert bootstrap_admin(sqlite_store, echo=printed.append) is None  # not again
