"""Finding 9: no secret in any output.

* A database URL with a password never appears in what the CLI prints, whether the store is
  unreachable, the URL malformed or the command succeeds; nor in the server's start line.
* The first admin's credentials are printed only once the server holds its port: a busy
  port ends `ductwork server` with one line and exit code 1 before anything secret is shown
  (and creates no admin), `ductwork ui` likewise before showing its address.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from attack import ServerProcess, base_env, start_server, stop_server

SECRET = "Sup3rS3cretPassw0rd"
# Unreachable (port 1), unknown database, an option psycopg refuses, a malformed port, an
# unparseable URL, a password holding '@' and '/', and no scheme at all.
BAD_URLS = [
    f"postgresql+psycopg://ductwork:{SECRET}@127.0.0.1:1/test",
    f"postgresql+psycopg://nobody:{SECRET}@127.0.0.1:5432/no_such_db",
    f"postgresql+psycopg://ductwork:{SECRET}@127.0.0.1:1/test?bogus_option=1",
    f"postgresql+psycopg://ductwork:{SECRET}@127.0.0.1:port/test",
    f"postgresql+psycopg://ductwork:{SECRET}@[::1/test",
    f"postgresql+psycopg://ductwork:{SECRET}@x/y@127.0.0.1:1/test",
    f"ductwork:{SECRET}@127.0.0.1/test",
]
COMMANDS = [
    ["tasks", "list"],
    ["tasks", "show", "0" * 32],
    ["queues", "list"],
    ["pipelines", "list"],
    ["users", "list"],
    ["keys", "list"],
    ["keys", "create", "--user", "admin"],
    ["queues", "create", "q"],
    ["agent", "--queue", "q", "--max-tasks", "0"],
    ["server", "--port", "0"],
    ["ui", "--port", "0"],
]


def _run(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ductwork", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.parametrize("url", BAD_URLS, ids=range(len(BAD_URLS)))
def test_a_database_password_never_reaches_the_cli_output(tmp_path: Path, url: str) -> None:
    env = {**base_env(), "DUCTWORK_HOME": str(tmp_path), "DUCTWORK_DB_URL": url}
    # Every command on the first URL; the ways a URL can be wrong on the few that open it.
    commands = COMMANDS if url == BAD_URLS[0] else [["tasks", "list"], ["server", "--port", "0"]]
    for args in commands:
        done = _run(args, env)
        said = done.stdout + done.stderr
        assert done.returncode != 0, f"{args}: {said}"
        assert SECRET not in said, f"`ductwork {' '.join(args)}` printed the password:\n{said}"
        assert "Traceback" not in said, f"`ductwork {' '.join(args)}`:\n{said}"
    done = _run(["db", "upgrade", "--url", url], {**base_env(), "DUCTWORK_HOME": str(tmp_path)})
    assert done.returncode != 0 and SECRET not in done.stdout + done.stderr


@pytest.mark.postgres
def test_a_served_store_url_with_a_password_is_masked(tmp_path: Path, pg_server: str) -> None:
    """The test database trusts local connections, so any password works: the server runs on
    a URL that carries one, and neither its output nor `db upgrade` shows it."""
    import uuid

    import sqlalchemy as sa

    schema = f"ductwork_secret_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg_server)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    admin.dispose()
    url = (
        sa.make_url(pg_server)
        .set(password=SECRET)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    done = _run(["db", "upgrade", "--url", url], {**base_env(), "DUCTWORK_HOME": str(tmp_path / "cli")})
    assert done.returncode == 0, done.stderr
    assert SECRET not in done.stdout + done.stderr and "***" in done.stdout
    server = start_server(tmp_path / "home", db_url=url)
    try:
        with server.client(server.alice.key) as alice:
            alice.get("/api/tasks/" + "0" * 32)  # an error path on the server
            alice.post("/api/tasks", json={"name": "x\x00y"})
        assert server.process.stdout is not None
        start = ""
        while not start.startswith("ductwork server on"):  # right after the first admin's lines
            start = server.process.stdout.readline().decode()
            server.output.append(start)
            assert start, "".join(server.output)
        assert "***" in start, start
    finally:
        stop_server(server)
    everything = "".join(server.output) + server.process.stdout.read().decode()
    assert SECRET not in everything, everything


def _busy_port() -> socket.socket:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    return holder


def test_a_busy_port_fails_before_any_secret_is_printed(tmp_path: Path) -> None:
    env = {**base_env(), "DUCTWORK_HOME": str(tmp_path)}
    with _busy_port() as holder:
        port = str(holder.getsockname()[1])
        done = _run(["server", "--port", port], env)
        said = done.stdout + done.stderr
        assert done.returncode == 2, said  # a usage error: the command line asked for the port
        (line,) = said.strip().splitlines()
        assert line.startswith(f"Error: port {port} on 127.0.0.1 is already in use by another program;")
        assert "API key" not in said and "web login" not in said
        ui = _run(["ui", "--port", port], env)
        assert ui.returncode == 2 and "http://" not in ui.stdout + ui.stderr, ui.stdout + ui.stderr
    # No admin was made on the failed start: the first start that holds its port makes it.
    server = start_server(tmp_path)
    stop_server(server)


def test_secrets_are_masked_in_any_text() -> None:
    from ductwork.core.display import mask_secrets

    for text in (
        f"the store at postgresql+psycopg://bob:{SECRET}@db:5432/x failed",
        f"s3://key:{SECRET}@bucket/path",
        f"host=db user=bob password={SECRET} dbname=x",
        f"postgresql://db/x?sslmode=require&password={SECRET}",
        f"postgresql://bob:{SECRET}@weird@db/x and more",
    ):
        masked = mask_secrets(text)
        assert SECRET not in masked and "***" in masked, masked


def test_the_server_fixture_admin_key_still_reads_from_the_output(server: ServerProcess) -> None:
    """The first admin's lines keep their format (tests and scripts read the key from them),
    and they come before the start line, which comes once the port is held."""
    lines = [line.strip() for line in server.output]
    key_line = next(i for i, line in enumerate(lines) if line.startswith("API key:"))
    assert lines[key_line].split("API key:")[1].strip() == server.admin.key
