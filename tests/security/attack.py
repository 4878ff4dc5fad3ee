"""A real `ductwork server` process to attack, with its own home, and clients for each role.

Every test in this folder talks to the server only over HTTP on loopback, as an attacker on
the network would. The server runs as a separate process with its own `DUCTWORK_HOME` (the
store and the artifact root live there); the tests' own home is another folder.

* `server`: one server per module and database (SQLite and PostgreSQL), with the first
  admin (its key from the server's first-start output), two ordinary users, `alice` and
  `bob`, a read-only user `carol`, each with a password and an API key, and an agent
  account `runner` (a key, no password).
* `server.client(key)`: an httpx client sending that key; `server.login(name, password)`: an
  httpx client holding a browser session cookie.

The accounts are made with the CLI as the server's admin would type it (`ductwork users add`,
`ductwork keys create`), all in one interpreter: a Python start per command would cost more
than the server's own start on a loaded machine.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = str(ROOT / "src")
PASSWORDS = {"alice": "alice-wonderland-1", "bob": "bob-the-builder-22", "carol": "carol-only-looks-3"}
# Accounts with a role other than `user`: carol only reads; `runner` is an agent's service account.
ROLES = {"carol": "readonly"}
AGENT = "runner"
DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@dataclass
class Account:
    name: str
    password: str
    key: str


@dataclass
class ServerProcess:
    url: str
    home: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    admin: Account
    users: dict[str, Account] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)

    @property
    def alice(self) -> Account:
        return self.users["alice"]

    @property
    def bob(self) -> Account:
        return self.users["bob"]

    @property
    def carol(self) -> Account:
        """A read-only user."""
        return self.users["carol"]

    @property
    def runner(self) -> Account:
        """An agent account (`users add runner --role agent`): no password, a key."""
        return self.users[AGENT]

    def client(self, key: str | None = None, **options: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **options)

    def login(self, name: str, password: str) -> httpx.Client:
        """A browser-like client logged in through the login form (holds the session cookie)."""
        browser = httpx.Client(base_url=self.url, timeout=30, headers={"Accept": "text/html"})
        page = browser.get("/login")
        form = {"username": name, "password": password, "next": "/"}
        token = _csrf_field(page.text)
        if token:
            form["csrf_token"] = token
        answer = browser.post("/login", data=form, headers={"Origin": self.url})
        assert answer.status_code in (200, 303), answer.text[:500]
        assert browser.cookies.get("ductwork_session"), "login did not set a session cookie"
        return browser

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`ductwork ARGS` on the server's machine (its home and store)."""
        done = subprocess.run(
            [sys.executable, "-m", "ductwork", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check:
            assert done.returncode == 0, done.stdout + done.stderr
        return done


def _csrf_field(html: str) -> str:
    marker = 'name="csrf_token" value="'
    start = html.find(marker)
    if start < 0:
        return ""
    start += len(marker)
    return html[start : html.find('"', start)]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUCTWORK_")}
    env["PYTHONPATH"] = os.pathsep.join([SRC, env.get("PYTHONPATH", "")])
    return env


def start_server(
    home: Path, *, db_url: str | None = None, extra_env: dict[str, str] | None = None
) -> ServerProcess:
    """Start `ductwork server` on a free loopback port over a store of its own."""
    env = {**base_env(), "DUCTWORK_HOME": str(home), **(extra_env or {})}
    if db_url:
        env["DUCTWORK_DB_URL"] = db_url
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "ductwork", "server", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    output: list[str] = []
    key = password = ""
    deadline = time.monotonic() + 60
    assert process.stdout is not None
    while not key and time.monotonic() < deadline:
        line = process.stdout.readline().decode()
        output.append(line)
        if "web login:" in line:
            password = line.split("/", 1)[1].strip()
        if "API key:" in line:
            key = line.split("API key:")[1].strip()
        if not line and process.poll() is not None:
            break
    if not key:
        process.kill()
        raise AssertionError("the server printed no first admin key:\n" + "".join(output))
    url = f"http://127.0.0.1:{port}"
    _wait_healthy(url)
    server = ServerProcess(url, home, env, process, Account("admin", password, key), output=output)
    keys = _make_accounts(server)
    for name, secret in PASSWORDS.items():
        server.users[name] = Account(name, secret, keys[name])
    server.users[AGENT] = Account(AGENT, "", keys[AGENT])
    return server


# `ductwork users add` and `ductwork keys create` for each account, in one interpreter; prints
# {name: key}. Each command's output is its own, so a failing one names itself.
_ACCOUNTS = """
import contextlib, io, json, sys

from ductwork.cli import main

def ductwork(*args):
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            main.main(list(args), prog_name="ductwork", standalone_mode=False)
    except BaseException as error:
        sys.exit(f"ductwork {' '.join(args)}: {error!r}\\n{out.getvalue()}")
    return out.getvalue().strip()

keys = {}
for name, password, role, key_name in json.loads(sys.argv[1]):
    ductwork("users", "add", name, *(["--password", password] if password else []), "--role", role)
    keys[name] = ductwork("keys", "create", "--user", name, "--name", key_name)
print(json.dumps(keys))
"""


def _make_accounts(server: ServerProcess) -> dict[str, str]:
    """alice, bob, carol and the agent account on the server's store: {name: API key}."""
    wanted = [[name, secret, ROLES.get(name, "user"), "tests"] for name, secret in PASSWORDS.items()]
    wanted.append([AGENT, "", "agent", "agent"])
    done = subprocess.run(
        [sys.executable, "-c", _ACCOUNTS, json.dumps(wanted)],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def keep_reading_output(server: ServerProcess) -> None:
    """Collect what a long-lived server prints into `server.output`, so a full pipe never holds
    it up and a traceback it prints can be found there."""
    stream = server.process.stdout
    assert stream is not None

    def read() -> None:
        for line in iter(stream.readline, b""):
            server.output.append(line.decode(errors="replace"))

    threading.Thread(target=read, daemon=True).start()


def stop_server(server: ServerProcess) -> None:
    server.process.terminate()
    try:
        server.process.wait(15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(5)


def _wait_healthy(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/health").status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError(f"the server at {url} never became healthy")


def serve(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A server process on the database of `request.param`, stopped when the fixture ends."""
    home = tmp_path_factory.mktemp("server-home")
    db_url = None
    if request.param == "postgresql":
        db_url = fresh_pg_schema(str(request.getfixturevalue("pg_server")))
    started = start_server(home, db_url=db_url)
    keep_reading_output(started)
    yield started
    stop_server(started)


def fresh_pg_schema(server_url: str) -> str:
    """A new, empty PostgreSQL schema on that server: the URL whose search_path is it."""
    import sqlalchemy as sa

    schema = f"ductwork_sec_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(server_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    admin.dispose()
    url = sa.make_url(server_url).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)
