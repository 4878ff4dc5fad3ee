"""Separate machines on one host, for every remote test.

A *machine* is a folder (`home/` = its `DUCTWORK_HOME`, `work/` = its working folder and
`$HOME`, `tmp/` = its `$TMPDIR`) and the processes started on it. Each process runs in a mount
namespace of its own (`unshare -m --propagation private`, as root) in which a fresh tmpfs
covers `/tmp`, `/var/tmp`, `/dev/shm`, the pytest temporary folders and the folder of every
machine, and only the machine's own folder is put back at its path. So no process opens
another machine's files, or the test's, by absolute path, exactly as on separate hosts: what
they share goes through the server (HTTP on 127.0.0.1) or object storage. Installed software
(the project's `src/`, the interpreter and its site-packages) stays visible, as on machines with
the same install. No `DUCTWORK_*` variable of the test's own environment reaches a machine.

    def test_x(machines):
        server = machines.server()                      # db="postgresql", artifacts_uri=...
        machines.agent("cpu-1", queues=["default"])     # a running `ductwork agent` (key: runner's)
        client = machines.client("laptop")              # user alice's key (key=server.admin_key...)
        client.run(SCRIPT, "arg")                       # SCRIPT copied into laptop's work/
        value = client.python("print(1 + 1)")          # stdout of `python -c`
        run = server.controller("name"); server.wait_final(run.id); server.steps(run.id)

Fixtures (wired in tests/conftest.py): `machines` (one test) and `module_machines` (one per
module, for a server and agents that several tests share). The test process itself is no
machine: it reaches the server through `server.api` (the admin's HTTP backend) or
`server.backend(key)`, and reads the machines' folders (`machine.root`, `machine.log(...)`) only
to explain failures. Keys: `server.admin_key`, `server.user_key` (alice, a user, web password
`server.password`), `server.agent_key` (runner, an agent account). Extra keyword arguments of
`server()`, `agent()`, `client()` and `machine()` are environment variables of that machine
(AWS credentials, for instance).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
FINAL = ("completed", "failed", "stopped")
TIMEOUT = 120  # seconds for a script on a client, a run to end, a process to get ready

# Inside the new namespace: keep the machine's folder open (fd 3), cover every shared area
# with an empty tmpfs, put the folder back at its own path through the open descriptor, then
# become the command. `--no-canonicalize`: mount must not resolve /proc/self/fd/3 to a path
# (which now names the empty tmpfs), but bind the open folder itself; X-mount.mkdir makes the
# path in the tmpfs (one process start fewer than `mkdir -p`).
_ENTER = r"""
set -e
own=$1; work=$2; shift 2
exec 3<"$own"
while [ "$1" != "--" ]; do mount -t tmpfs -o mode=1777 machine-hidden "$1"; shift; done
shift
mount --no-canonicalize --bind -o X-mount.mkdir /proc/self/fd/3 "$own"
exec 3<&-
cd "$work"
exec "$@"
"""
_SHARED_AREAS = ("/tmp", "/var/tmp", "/dev/shm")
ALICE_PASSWORD = "alice-wonderland-1"
# On the server's machine, as its admin would type them, in one interpreter (each start costs):
# `ductwork users add` alice (a user) and runner (an agent account), `ductwork keys create` each.
_ACCOUNTS = f"""
import contextlib, io, json

from ductwork.cli import main

def ductwork(*args):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main.main(list(args), prog_name="ductwork", standalone_mode=False)
    return out.getvalue().strip()

ductwork("users", "add", "alice", "--password", {ALICE_PASSWORD!r})
ductwork("users", "add", "runner", "--role", "agent")
print(json.dumps({{name: ductwork("keys", "create", "--user", name) for name in ("alice", "runner")}}))
"""
_SERVER_ADDRESS = re.compile(r"ductwork server on (http://\S+)")


def check_unshare() -> None:
    """Fail (never fall back to one shared namespace) when mount namespaces are unavailable."""
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        pytest.fail("separate machines need util-linux's `unshare` and `mount` (apt-get install util-linux)")
    probe = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "mount", "-t", "tmpfs", "probe", "/tmp"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        pytest.fail(
            "separate machines need mount namespaces (root, or CAP_SYS_ADMIN): `unshare -m "
            f"--propagation private mount -t tmpfs` failed: {probe.stderr.strip()}",
            pytrace=False,
        )


def installed_env() -> dict[str, str]:
    """This process's environment without `DUCTWORK_*`, with the project's `src/` importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUCTWORK_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH", "")]))
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # src/ is shared: no machine writes into it
    return env


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _outermost(paths: Iterable[str]) -> list[str]:
    """Existing folders, without those inside another one (a covered folder hides its insides),
    none holding the installed software every machine shares."""
    found = sorted({os.path.realpath(p) for p in paths if os.path.isdir(p)})
    kept: list[str] = []
    for path in found:
        if not any(_inside(path, k) for k in kept):
            kept.append(path)
    installed = [str(SRC), sys.prefix, sys.base_prefix, *(p for p in sys.path if p.endswith("site-packages"))]
    for folder in kept:
        for software in installed:
            if _inside(os.path.realpath(software), folder):
                raise ValueError(
                    f"machines would cover {folder}, which holds the installed {software}: "
                    "give pytest a --basetemp outside it (or install elsewhere)"
                )
    return kept


@dataclass
class Machine:
    """One host: its folder and the processes started on it."""

    name: str
    root: Path
    hidden: Sequence[str]
    env: dict[str, str]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def work(self) -> Path:
        return self.root / "work"

    def command(self, argv: Sequence[str]) -> list[str]:
        """`argv` as run on this machine (in a mount namespace of its own)."""
        own = str(self.root)
        enter = ["unshare", "-m", "--propagation", "private", "/bin/sh", "-c", _ENTER, "machine"]
        return [*enter, own, str(self.work), *self.hidden, "--", *argv]

    def start(self, argv: Sequence[str], log: str, **env: str) -> subprocess.Popen[bytes]:
        """A long-running process; its output goes to `log` in the machine's folder."""
        with open(self.root / log, "ab") as output:
            process = subprocess.Popen(
                self.command(argv),
                env={**self.env, **env},
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(process)
        return process

    def execute(
        self, argv: Sequence[str], *, check: bool = True, timeout: float = TIMEOUT, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """Run `argv` to its end on this machine; with `check`, a failure shows its output."""
        return self._complete(argv, check, timeout, env)

    def _complete(
        self, argv: Sequence[str], check: bool, timeout: float, env: dict[str, str]
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            self.command(argv),
            env={**self.env, **env},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check:
            assert done.returncode == 0, (
                f"{' '.join(argv)} failed on machine {self.name} (exit {done.returncode}):\n"
                f"{done.stdout}\n{done.stderr}"
            )
        return done

    def copy(self, source: Path) -> Path:
        """Put file or folder `source` into this machine's working folder (as a user copies
        their code onto a machine); answers where it landed."""
        target = self.work / source.name
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copyfile(source, target)
        return target

    def run(self, script: str | Path, *args: str, check: bool = True, **env: str) -> str:
        """Run `script` (a file, copied into this machine's working folder first, or the text of
        one) there with this interpreter; answers its standard output."""
        if isinstance(script, Path):
            target = self.copy(script)
        else:
            target = self.work / f"script_{uuid.uuid4().hex[:8]}.py"
            target.write_text(script)
        return self._complete([sys.executable, target.name, *args], check, TIMEOUT, env).stdout

    def python(self, code: str, **env: str) -> str:
        """The standard output of `python -c code` on this machine (stripped)."""
        return self._complete([sys.executable, "-c", code], True, TIMEOUT, env).stdout.strip()

    def log(self, name: str) -> str:
        path = self.root / name
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@dataclass
class Server:
    """`ductwork server` on its own machine; keys of its admin, of user alice and of an agent
    account, and HTTP backends for the test process to look at what happened."""

    machine: Machine
    url: str
    admin_key: str
    admin_password: str
    user_key: str
    agent_key: str
    password: str  # alice's web login
    _backends: list[Any] = field(default_factory=list)
    _admin: Any = None

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`ductwork ARGS` on the server's machine (its store), as its admin would type them."""
        return self.machine.execute([sys.executable, "-m", "ductwork", *args], check=check)

    def backend(self, key: str | None = None) -> Any:
        """An HTTP backend with `key` (default: the admin's), closed with the machines."""
        from ductwork.client.http import HttpBackend

        opened = HttpBackend(self.url, key or self.admin_key)
        self._backends.append(opened)
        return opened

    @property
    def api(self) -> Any:
        """The admin's backend (one, reused)."""
        if self._admin is None:
            self._admin = self.backend()
        return self._admin

    def controller(self, name: str) -> Any:
        """The newest run (controller task) named `name`."""
        from ductwork.core.queries import TaskQuery

        runs = self.api.query_tasks(TaskQuery(name=name, type=["controller"], archived=None))
        assert runs, f"no run named {name!r} on the server"
        return runs[0]

    def steps(self, run_id: str) -> dict[str, Any]:
        """The step tasks of run `run_id` by name (the last attempt of each)."""
        from ductwork.core.queries import TaskQuery

        found: dict[str, Any] = {}
        for task in self.api.query_tasks(TaskQuery(parent=run_id, archived=None)):
            found.setdefault(task.name, task)
        return found

    def wait_final(self, task_id: str, timeout: float = TIMEOUT) -> Any:
        """The task once it is completed, failed or stopped (its console in the error if not)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            task = self.api.get_task(task_id)
            if task.status in FINAL:
                return task
            time.sleep(0.1)
        console = "\n".join(line.text for line in self.api.get_console(task_id))
        raise AssertionError(f"task {task_id} still {task.status} after {timeout} s:\n{console}")

    def workers(self, name: str) -> list[Any]:
        """The worker slots of agent `name` (`name`, or `name/0`... in services mode)."""
        return [w for w in self.api.list_workers() if w.id == name or w.id.startswith(f"{name}/")]

    def close(self) -> None:
        for opened in self._backends:
            opened.close()
        self._backends.clear()
        self._admin = None


class Machines:
    """Start machines under `base`; stop them all with `close()`."""

    def __init__(
        self, base: Path, hidden: Iterable[str] = (), request: pytest.FixtureRequest | None = None
    ) -> None:
        check_unshare()
        self.base = base
        self._request = request
        self._hidden = _outermost([*_SHARED_AREAS, tempfile.gettempdir(), str(base), *hidden])
        self._machines: dict[str, Machine] = {}
        self._servers: list[Server] = []
        self._cleanups: list[Any] = []
        self._server: Server | None = None

    def machine(self, name: str, **env: str) -> Machine:
        """A new machine named `name` (its own folder, home, working folder and temp folder)."""
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name), f"bad machine name {name!r}"
        assert name not in self._machines, f"machine {name!r} exists already"
        root = self.base / name
        for folder in ("home", "work", "tmp"):
            (root / folder).mkdir(parents=True)
        machine_env = {
            **installed_env(),
            "HOME": str(root / "work"),
            "TMPDIR": str(root / "tmp"),
            "DUCTWORK_HOME": str(root / "home"),
            **env,
        }
        machine = Machine(name, root, self._hidden, machine_env)
        self._machines[name] = machine
        return machine

    @property
    def started_server(self) -> Server:
        """The server the agents and clients started from now on talk to (the last started)."""
        assert self._server is not None, "start machines.server() first"
        return self._server

    def server(
        self,
        name: str = "server",
        *,
        db: str = "sqlite",
        artifacts_uri: str | None = None,
        allow_storage: Sequence[str] = (),
        **env: str,
    ) -> Server:
        """`ductwork server` on machine `name`, over SQLite in its home or a PostgreSQL schema of
        its own; with user `alice` (role user) and `runner` (role agent), each with a key."""
        machine = self.machine(name, **env)
        if db == "postgresql":
            machine.env["DUCTWORK_DB_URL"] = self._pg_schema()
        elif db != "sqlite":
            raise ValueError(f"db must be 'sqlite' or 'postgresql', not {db!r}")
        argv = [sys.executable, "-m", "ductwork", "server", "--port", "0"]
        if artifacts_uri:
            argv += ["--artifacts-uri", artifacts_uri]
        for prefix in allow_storage:
            argv += ["--allow-storage", prefix]
        process = machine.start(argv, "server.log")
        url, admin_key, admin_password = _first_start(machine, process)
        _wait_healthy(url, machine)
        keys = json.loads(machine.python(_ACCOUNTS))
        server = Server(
            machine, url, admin_key, admin_password, keys["alice"], keys["runner"], ALICE_PASSWORD
        )
        self._servers.append(server)
        self._server = server
        return server

    def agent(
        self,
        name: str,
        queues: Sequence[str] = ("default",),
        *,
        services: int | None = None,
        key: str | None = None,
        args: Sequence[str] = (),
        same_env: bool = True,
        **env: str,
    ) -> Machine:
        """`ductwork agent --same-env --name NAME` on a new machine `name`, serving `queues`
        with the server's agent account (`services`: `--services-mode N`); answers once every
        slot of it is registered on the server (`same_env=False`: without `--same-env`)."""
        server = self.started_server
        machine = self.machine(
            name, DUCTWORK_API_URL=server.url, DUCTWORK_API_KEY=key or server.agent_key, **env
        )
        argv = [sys.executable, "-m", "ductwork", "agent", *(["--same-env"] * same_env), "--name", name]
        for queue in queues:
            argv += ["--queue", queue]
        if services:
            argv += ["--services-mode", str(services)]
        process = machine.start([*argv, *args], "agent.log")
        deadline = time.monotonic() + TIMEOUT
        while len(server.workers(name)) < (services or 1):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"agent {name} did not start:\n{machine.log('agent.log')}")
            time.sleep(0.05)
        return machine

    def client(self, name: str, *, key: str | None = None, **env: str) -> Machine:
        """A machine whose processes reach the server with alice's key (or `key`)."""
        server = self.started_server
        return self.machine(name, DUCTWORK_API_URL=server.url, DUCTWORK_API_KEY=key or server.user_key, **env)

    def _pg_schema(self) -> str:
        """A PostgreSQL schema private to one server (dropped with the machines)."""
        import sqlalchemy as sa

        assert self._request is not None, "a PostgreSQL server needs the pytest request (pg_server)"
        admin_url = str(self._request.getfixturevalue("pg_server"))
        schema = f"ductwork_machines_{uuid.uuid4().hex[:12]}"
        admin = sa.create_engine(admin_url)
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')

        def drop() -> None:
            with admin.begin() as conn:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            admin.dispose()

        self._cleanups.append(drop)
        url = sa.make_url(admin_url).update_query_dict({"options": f"-csearch_path={schema}"})
        return url.render_as_string(hide_password=False)

    def __enter__(self) -> Machines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for server in self._servers:
            server.close()
        # Agents and clients first, the server last: agents report their end to it.
        for machine in reversed(list(self._machines.values())):
            machine.stop()
        for cleanup in self._cleanups:
            with contextlib.suppress(Exception):
                cleanup()


def _first_start(machine: Machine, process: subprocess.Popen[bytes]) -> tuple[str, str, str]:
    """The server's address and its first admin's key and password, read from its output."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        output = machine.log("server.log")
        address = _SERVER_ADDRESS.search(output)
        key = re.search(r"API key:\s*(\S+)", output)
        password = re.search(r"web login:\s*admin / (\S+)", output)
        if address and key and password:
            return address.group(1), key.group(1), password.group(1)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"the server on machine {machine.name} did not start:\n{machine.log('server.log')}")


def _wait_healthy(url: str, machine: Machine) -> None:
    import httpx

    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/api/health").status_code == 200:
                return
        time.sleep(0.05)
    raise AssertionError(f"the server at {url} never became healthy:\n{machine.log('server.log')}")


def open_machines(request: pytest.FixtureRequest, factory: pytest.TempPathFactory) -> Machines:
    """Machines under a new folder of this pytest session's, which is hidden from them (with
    `/tmp`, where pytest keeps them by default, every session's). Use it as a context manager
    (`with open_machines(...) as machines:`), which stops them."""
    return Machines(factory.mktemp("machines"), [str(factory.getbasetemp())], request)
