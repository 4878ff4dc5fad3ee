"""Finding 8 (sessions): idle and absolute expiry, cookie flags, log out everywhere, and a
password change (web page and CLI) ending every session of that user and nobody else's."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from attack import ServerProcess, start_server, stop_server


def token_of(browser: httpx.Client) -> str:
    found = re.search(r'name="csrf-token" content="(\w+)"', browser.get("/account").text)
    assert found
    return found.group(1)


def post_form(
    server: ServerProcess, browser: httpx.Client, path: str, form: dict[str, str]
) -> httpx.Response:
    return browser.post(path, data={**form, "csrf_token": token_of(browser)}, headers={"Origin": server.url})


def new_user(server: ServerProcess, password: str = "carol-password-1") -> str:
    name = f"carol-{uuid.uuid4().hex[:6]}"
    server.cli("users", "add", name, "--password", password)
    return name


def test_session_cookie_flags(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url) as browser:
        answer = browser.post(
            "/login",
            data={"username": "alice", "password": server.alice.password},
            headers={"Origin": server.url},
        )
        cookie = answer.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
        assert "secure" not in cookie  # plain http: a Secure cookie would never come back
        # A client cannot claim https through X-Forwarded-Proto without a trusted proxy.
        spoofed = browser.post(
            "/login",
            data={"username": "alice", "password": server.alice.password},
            headers={"Origin": server.url, "X-Forwarded-Proto": "https"},
        )
        assert "secure" not in spoofed.headers["set-cookie"].lower()


def test_behind_a_trusted_proxy_https_cookies_are_secure(tmp_path: Path) -> None:
    server = start_server(tmp_path / "home", extra_env={"DUCTWORK_TRUSTED_PROXIES": "127.0.0.1"})
    try:
        public = "https://ductwork.example.org"
        with httpx.Client(base_url=server.url) as browser:
            proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "ductwork.example.org"}
            answer = browser.post(
                "/login",
                data={"username": "alice", "password": server.alice.password},
                headers={"Origin": public, **proxied},
            )
            assert answer.status_code == 303
            assert "secure" in answer.headers["set-cookie"].lower()
            # The origin the proxy forwards is the one a page must come from.
            wrong = browser.post(
                "/login",
                data={"username": "alice", "password": server.alice.password},
                headers={"Origin": server.url, **proxied},
            )
            assert wrong.status_code == 403
    finally:
        stop_server(server)


def test_log_out_everywhere_ends_every_session_of_that_user_only(server: ServerProcess) -> None:
    name = new_user(server)
    first, second = server.login(name, "carol-password-1"), server.login(name, "carol-password-1")
    bob = server.login("bob", server.bob.password)
    key = server.cli("keys", "create", "--user", name).stdout.strip()
    answer = post_form(server, first, "/logout/everywhere", {})
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    assert first.get("/api/whoami").status_code == 401
    assert second.get("/api/whoami").status_code == 401
    assert bob.get("/api/whoami").json()["name"] == "bob"
    with server.client(key) as api:
        assert api.get("/api/whoami").json()["name"] == name  # API keys are not sessions


def test_changing_the_password_on_the_page_ends_every_session(server: ServerProcess) -> None:
    name = new_user(server)
    first, second = server.login(name, "carol-password-1"), server.login(name, "carol-password-1")
    bob = server.login("bob", server.bob.password)
    key = server.cli("keys", "create", "--user", name).stdout.strip()
    page = first.get("/account")
    assert (
        page.status_code == 200
        and 'action="/account/password"' in page.text
        and "Log out everywhere" in page.text
    )

    wrong = post_form(
        server, first, "/account/password", {"current": "not-it", "new": "x" * 12, "confirm": "x" * 12}
    )
    assert wrong.status_code == 422 and "not your current password" in wrong.text
    differ = post_form(
        server,
        first,
        "/account/password",
        {"current": "carol-password-1", "new": "x" * 12, "confirm": "y" * 12},
    )
    assert differ.status_code == 422
    assert second.get("/api/whoami").status_code == 200  # refused changes end nothing

    done = post_form(
        server,
        first,
        "/account/password",
        {"current": "carol-password-1", "new": "new-pass-99", "confirm": "new-pass-99"},
    )
    assert done.status_code == 200 and "every session of yours has ended" in done.text
    assert first.get("/api/whoami").status_code == 401
    assert second.get("/api/whoami").status_code == 401
    assert bob.get("/api/whoami").json()["name"] == "bob"
    with server.client(key) as api:
        assert api.get("/api/whoami").status_code == 200
    with httpx.Client(base_url=server.url) as browser:
        old = browser.post(
            "/login", data={"username": name, "password": "carol-password-1"}, headers={"Origin": server.url}
        )
        assert old.status_code == 401
    server.login(name, "new-pass-99").close()


def test_users_passwd_on_the_cli_ends_every_session(server: ServerProcess) -> None:
    name = new_user(server)
    first, second = server.login(name, "carol-password-1"), server.login(name, "carol-password-1")
    bob = server.login("bob", server.bob.password)
    done = server.cli("users", "passwd", name, "--password", "cli-password-7")
    assert "2 web sessions ended" in done.stdout
    assert first.get("/api/whoami").status_code == 401 and second.get("/api/whoami").status_code == 401
    assert bob.get("/api/whoami").status_code == 200
    server.login(name, "cli-password-7").close()
    short = server.cli("users", "passwd", name, "--password", "short", check=False)
    assert short.returncode != 0 and "8 to 1024" in short.stderr


@pytest.fixture(scope="module")
def short_sessions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """Sessions end after 4 s unused or 12 s after login."""
    server = start_server(
        tmp_path_factory.mktemp("short-sessions"),
        extra_env={"DUCTWORK_SESSION_IDLE": "4", "DUCTWORK_SESSION_MAX": "12"},
    )
    yield server
    stop_server(server)


def keep_using(
    browser: httpx.Client, seconds: float, after_end: float | None = None
) -> list[tuple[float, int]]:
    """(seconds since the call, status) of a request every quarter second, for `seconds`, or
    until `after_end` seconds past the first refusal."""
    answers = []
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        answers.append((time.monotonic() - began, browser.get("/api/whoami").status_code))
        refused = [at for at, status in answers if status == 401]
        if after_end is not None and refused and answers[-1][0] - refused[0] >= after_end:
            break
        time.sleep(0.25)
    return answers


def test_a_session_used_often_outlives_its_idle_limit_and_an_unused_one_ends(
    short_sessions: ServerProcess,
) -> None:
    server = short_sessions
    browser = server.login("alice", server.alice.password)
    # Longer than the 4 s idle limit, in use throughout: it stays.
    assert {status for _, status in keep_using(browser, 6)} == {200}
    time.sleep(5)  # unused for longer than 4 s, still short of the 12 s absolute limit
    assert browser.get("/api/whoami").status_code == 401
    page = browser.get("/pipelines", headers={"Accept": "text/html"})
    assert page.status_code == 303 and page.headers["location"].startswith("/login")


def test_a_session_in_constant_use_ends_at_its_absolute_limit(short_sessions: ServerProcess) -> None:
    server = short_sessions
    # Still refused for 3 s after the end: an ended session does not come back.
    answers = keep_using(server.login("alice", server.alice.password), 25, after_end=3)
    statuses = [status for _, status in answers]
    assert 401 in statuses, "the session never ended"
    ended = statuses.index(401)
    assert set(statuses[:ended]) == {200} and set(statuses[ended:]) == {401}
    # In use every quarter second, so never idle for 4 s: it ended at the 12 s limit, not before.
    assert answers[ended][0] >= 10, answers[ended]  # (the login itself came a little before)
