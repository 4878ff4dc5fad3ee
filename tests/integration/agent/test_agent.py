"""The agent end to end: real agent processes, real task processes, on the embedded store
(SQLite and PostgreSQL; the agent beside the store, one machine by design) and through a live
server (each agent on a machine of its own, sharing nothing with the server but HTTP)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ductwork.core.queries import TaskQuery
from ductwork.core.records import TaskRecord

if TYPE_CHECKING:
    from conftest import ServerAgents

SRC = str(Path(__file__).resolve().parents[3] / "src")


def agent_env(
    home: Path,
    *,
    db_url: str | None = None,
    api: tuple[str, str] | None = None,
    heartbeat_timeout: float | None = None,
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUCTWORK_")}
    env["DUCTWORK_HOME"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join([SRC, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if db_url:
        env["DUCTWORK_DB_URL"] = db_url
    if api:
        env["DUCTWORK_API_URL"], env["DUCTWORK_API_KEY"] = api
    if heartbeat_timeout is not None:
        env["DUCTWORK_HEARTBEAT_TIMEOUT"] = str(heartbeat_timeout)
    return env


class Agents:
    """Starts agent processes and stops every one of them at the end of the test."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-m", "ductwork.agent", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.processes.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.wait(10)


@pytest.fixture
def agents() -> Iterator[Agents]:
    started = Agents()
    yield started
    started.stop_all()


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def code_task(store: Any, name: str, code: str, **fields: Any) -> TaskRecord:
    task: TaskRecord = store.create_task(
        TaskRecord(name=name, script={"code": code, "entry_point": "main.py"}, **fields)
    )
    return task


def test_runs_tasks_streams_console_and_marks_status(
    store: Any, store_url: str, tmp_path: Path, agents: Agents
) -> None:
    store.ensure_queue("default")
    ok = code_task(
        store,
        "ok",
        "import os, sys\nprint('hello from', os.environ['DUCTWORK_TASK_ID'])\n"
        "print('warn', file=sys.stderr)\n",
    )
    bad = code_task(store, "bad", "raise SystemExit('broken input file')\n")
    for task in (ok, bad):
        store.enqueue(task.id, "default")
    agent = agents.start(
        agent_env(tmp_path, db_url=store_url), "--queue", "default", "--same-env", "--max-tasks", "2"
    )
    assert agent.wait(60) == 0, agent.stderr.read() if agent.stderr else ""
    done = store.get_task(ok.id)
    assert done.status == "completed" and done.worker
    lines = [(line.stream, line.text) for line in store.get_console(ok.id)]
    assert ("stdout", f"hello from {ok.id}") in lines and ("stderr", "warn") in lines
    failed = store.get_task(bad.id)
    assert failed.status == "failed"
    assert "exited with code 1" in failed.status_message and "broken input file" in failed.status_message
    assert store.list_workers() == []  # unregistered on exit


def test_sdk_task_under_the_agent_logs_each_line_once(
    sqlite_store: Any, sqlite_url: str, tmp_path: Path, agents: Agents
) -> None:
    """Task.init under an agent returns the claimed task; the agent streams the console, so
    the SDK does not capture it a second time."""
    store = sqlite_store
    store.ensure_queue("default")
    code = (
        "from ductwork import Task\n"
        "task = Task.init(project_name='p', task_name='x')\n"
        "print('only once', task.id)\n"
    )
    task = code_task(store, "sdk", code)
    store.enqueue(task.id, "default")
    agent = agents.start(
        agent_env(tmp_path, db_url=sqlite_url), "--queue", "default", "--same-env", "--max-tasks", "1"
    )
    assert agent.wait(60) == 0
    assert store.get_task(task.id).status == "completed"
    lines = [line.text for line in store.get_console(task.id)]
    assert lines.count(f"only once {task.id}") == 1, lines


def test_an_idle_embedded_agent_learns_of_new_work_at_once(
    store: Any, store_url: str, tmp_path: Path, agents: Agents
) -> None:
    """No server: SQLite wakes the agent through PRAGMA data_version, PostgreSQL through
    LISTEN/NOTIFY; both well under the claim fallbacks (PostgreSQL's is 5 s)."""
    store.ensure_queue("default")
    agents.start(agent_env(tmp_path, db_url=store_url), "--queue", "default", "--same-env", "--name", "idle")
    wait_for(lambda: any(w.id == "idle" for w in store.list_workers()), 20, "the agent to register")
    time.sleep(1.5)  # idle: waiting, not polling
    delays = []
    for n in range(3):
        task = code_task(store, f"wake{n}", "pass\n")
        enqueued = time.time()
        store.enqueue(task.id, "default")
        wait_for(lambda t=task: store.get_task(t.id).status == "completed", 20, "the task to run")
        delays.append(float(store.get_task(task.id).started or 0) - enqueued)
    # Far below PostgreSQL's 5 s fallback claim: woken by the commit itself, not a timer.
    assert max(delays) < 4.0, delays


def test_abort_kills_the_process_tree_and_keeps_stopped(
    sqlite_store: Any, sqlite_url: str, tmp_path: Path, agents: Agents
) -> None:
    store = sqlite_store
    store.ensure_queue("default")
    marker = tmp_path / "grandchild.pid"
    task = code_task(
        store,
        "long",
        "import subprocess, time\n"
        f"p = subprocess.Popen(['sleep', '300'])\nopen({str(marker)!r}, 'w').write(str(p.pid))\n"
        "time.sleep(300)\n",
    )
    store.enqueue(task.id, "default")
    agents.start(agent_env(tmp_path, db_url=sqlite_url), "--queue", "default", "--same-env")
    wait_for(marker.exists, 30, "the task to start its child")
    grandchild = int(marker.read_text())
    from click.testing import CliRunner

    from ductwork.agent.commands import task_abort

    os.environ["DUCTWORK_DB_URL"] = sqlite_url
    try:
        from ductwork import client

        client.use(None)
        result = CliRunner().invoke(task_abort, [task.id])
    finally:
        del os.environ["DUCTWORK_DB_URL"]
        client.use(None)
    assert result.exit_code == 0, result.output
    wait_for(lambda: not _alive(grandchild), 15, "the grandchild process to be killed")
    time.sleep(0.5)
    assert store.get_task(task.id).status == "stopped"


def test_time_limit_fails_the_task_with_a_reason(
    sqlite_store: Any, sqlite_url: str, tmp_path: Path, agents: Agents
) -> None:
    store = sqlite_store
    store.ensure_queue("default")
    task = code_task(store, "slow", "import time\ntime.sleep(300)\n", runtime={"time_limit": 1})
    store.enqueue(task.id, "default")
    agents.start(agent_env(tmp_path, db_url=sqlite_url), "--queue", "default", "--same-env")
    wait_for(lambda: store.get_task(task.id).status == "failed", 30, "the time limit")
    assert "time limit" in store.get_task(task.id).status_message


def test_sigkilled_agent_tasks_fail_or_requeue_within_the_heartbeat_timeout(
    store: Any, store_url: str, tmp_path: Path, agents: Agents
) -> None:
    store.ensure_queue("default")
    flag = tmp_path / "first-attempt"
    # The first attempt hangs; a retry finds the flag and succeeds.
    code = (
        f"import os, time\nflag = {str(flag)!r}\n"
        "if os.path.exists(flag):\n    print('second attempt')\nelse:\n"
        "    open(flag + '.tmp', 'w').write(str(os.getpid()))\n    os.replace(flag + '.tmp', flag)\n"
        "    time.sleep(300)\n"
    )
    retried = code_task(store, "retried", code, runtime={"retries_left": 1})
    store.enqueue(retried.id, "default")
    env = agent_env(tmp_path, db_url=store_url, heartbeat_timeout=2)
    doomed = agents.start(env, "--queue", "default", "--same-env", "--name", "doomed")
    wait_for(flag.exists, 30, "the first attempt to start")
    first_attempt = int(flag.read_text())
    doomed.send_signal(signal.SIGKILL)
    doomed.wait(10)
    # The task process dies with its agent (it would otherwise run on beside the retry).
    if shutil.which("setpriv"):
        wait_for(lambda: not _alive(first_attempt), 10, "the killed agent's task process to die")
    killed_at = time.monotonic()
    agents.start(env, "--queue", "default", "--same-env", "--name", "survivor")
    wait_for(lambda: store.get_task(retried.id).status == "completed", 40, "the retry to complete")
    assert time.monotonic() - killed_at < 35  # the 2 s heartbeat timeout, plus process starts
    task = store.get_task(retried.id)
    assert task.worker == "survivor" and task.runtime["retries_left"] == 0
    assert any("second attempt" in line.text for line in store.get_console(retried.id))

    flag.unlink()
    no_retry = code_task(store, "no-retry", code)
    store.enqueue(no_retry.id, "default")
    # the survivor runs it now; kill it and let the next agent notice
    wait_for(flag.exists, 30, "the second task to start")
    agents.processes[-1].send_signal(signal.SIGKILL)
    agents.start(env, "--queue", "other", "--same-env", "--name", "noticer")
    wait_for(lambda: store.get_task(no_retry.id).status == "failed", 30, "the orphan to be failed")
    assert "stopped responding" in store.get_task(no_retry.id).status_message


def test_services_mode_runs_tasks_at_once(
    sqlite_store: Any, sqlite_url: str, tmp_path: Path, agents: Agents
) -> None:
    store = sqlite_store
    store.ensure_queue("services")
    spans = tmp_path / "spans"
    spans.mkdir()
    code = (
        "import os, time\nstart = time.time()\ntime.sleep(1.5)\n"
        f"open(os.path.join({str(spans)!r}, os.environ['DUCTWORK_TASK_ID']), 'w')"
        ".write(f'{start} {time.time()}')\n"
    )
    tasks = [code_task(store, f"c{i}", code) for i in range(3)]
    for task in tasks:
        store.enqueue(task.id, "services")
    agent = agents.start(
        agent_env(tmp_path, db_url=sqlite_url),
        "--queue",
        "services",
        "--same-env",
        "--services-mode",
        "3",
        "--max-tasks",
        "3",
    )
    assert agent.wait(60) == 0
    intervals = [tuple(map(float, path.read_text().split())) for path in spans.iterdir()]
    assert max(start for start, _ in intervals) < min(end for _, end in intervals)  # all ran at once
    assert {store.get_task(t.id).status for t in tasks} == {"completed"}
    assert len({store.get_task(t.id).worker for t in tasks}) == 3  # one worker per slot


def test_agent_through_a_server_runs_each_of_many_tasks_exactly_once(
    live_server: Any, server_agents: ServerAgents
) -> None:
    """8 agents, each on a machine of its own, race over 500 queued tasks through the server's
    long-poll claims; each task notes its run in a ledger on the machine that ran it."""
    store = live_server.store
    store.ensure_queue("default")
    code = (
        "import os\nledger = os.path.expanduser('~/ledger')\nos.makedirs(ledger, exist_ok=True)\n"
        "with open(os.path.join(ledger, os.environ['DUCTWORK_TASK_ID']), 'a') as f:\n"
        "    f.write('x')\n"
    )
    tasks = [code_task(store, f"t{i}", code) for i in range(500)]
    for task in tasks:
        store.enqueue(task.id, "default")
    racers = [server_agents.start(f"racer{n}", "--queue", "default", "--same-env")[0] for n in range(8)]
    wait_for(lambda: store.count_tasks(TaskQuery(status=["completed"])) == 500, 240, "500 completed tasks")
    runs = [(path.name, path.read_text()) for racer in racers for path in racer.work.glob("ledger/*")]
    assert len(runs) == 500 and len(dict(runs)) == 500  # each ran, on one machine only
    assert set(dict(runs).values()) == {"x"}  # and only once there
    assert len({store.get_task(t.id).worker for t in tasks}) > 1


def test_embedded_agents_run_each_of_many_tasks_exactly_once(
    store: Any, store_url: str, tmp_path: Path, agents: Agents
) -> None:
    """8 agents on the embedded store (no server) race over 500 tasks: SQLite wakes them by
    PRAGMA data_version, PostgreSQL claims with FOR UPDATE SKIP LOCKED."""
    store.ensure_queue("default")
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    code = (
        f"import os\nwith open(os.path.join({str(ledger)!r}, os.environ['DUCTWORK_TASK_ID']), 'a') as f:\n"
        "    f.write('x')\n"
    )
    tasks = [code_task(store, f"t{i}", code) for i in range(500)]
    env = agent_env(tmp_path, db_url=store_url)
    for n in range(8):
        agents.start(env, "--queue", "default", "--same-env", "--name", f"racer{n}")
    for task in tasks:
        store.enqueue(task.id, "default")
    wait_for(lambda: store.count_tasks(TaskQuery(status=["completed"])) == 500, 240, "500 completed tasks")
    runs = {path.name: path.read_text() for path in ledger.iterdir()}
    assert len(runs) == 500 and set(runs.values()) == {"x"}
    assert len({store.get_task(t.id).worker for t in tasks}) > 1


def test_sigterm_stops_an_idle_agent_at_once_and_lets_a_running_task_finish(
    live_server: Any, server_agents: ServerAgents
) -> None:
    store = live_server.store
    store.ensure_queue("default")
    _, idle = server_agents.start("idle", "--queue", "default", "--same-env")
    wait_for(lambda: any(w.id == "idle" for w in store.list_workers()), 20, "the agent to register")
    time.sleep(0.5)  # now inside its long-poll claim
    started = time.monotonic()
    idle.send_signal(signal.SIGTERM)
    assert idle.wait(10) == 0
    assert time.monotonic() - started < 15.0  # not held by its 20 s long-poll claim
    assert store.list_workers() == []

    task = code_task(
        store,
        "finishing",
        "import os, time\nopen(os.path.expanduser('~/running'), 'w').close()\ntime.sleep(1.5)\n",
    )
    store.enqueue(task.id, "default")
    machine, busy = server_agents.start("busy", "--queue", "default", "--same-env")
    wait_for((machine.work / "running").exists, 20, "the task to start")
    busy.send_signal(signal.SIGTERM)
    assert busy.wait(20) == 0, machine.log("agent.log")
    assert store.get_task(task.id).status == "completed"


def test_repository_task_is_cloned_checked_out_and_patched(
    sqlite_store: Any, sqlite_url: str, tmp_path: Path, agents: Agents
) -> None:
    """script.repository + commit + diff: the agent runs the committed code with the
    uncommitted change applied, from working_dir, with the checkout importable."""
    repo = tmp_path / "repo"
    (repo / "app").mkdir(parents=True)
    (repo / "helpers.py").write_text("GREETING = 'old'\n")
    (repo / "app" / "main.py").write_text("import helpers\nprint('greeting', helpers.GREETING)\n")

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout

    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "--allow-empty", "-m", "root")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "-m", "code")
    commit = git("rev-parse", "HEAD").strip()
    (repo / "helpers.py").write_text("GREETING = 'patched'\n")
    diff = git("diff")
    git("checkout", "-q", "--", ".")
    (repo / "helpers.py").write_text("GREETING = 'later commit'\n")
    git("-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "-am", "later")

    store = sqlite_store
    store.ensure_queue("default")
    task = store.create_task(
        TaskRecord(
            name="from git",
            script={
                "repository": str(repo),
                "commit": commit,
                "diff": diff,
                "entry_point": "main.py",
                "working_dir": "app",
            },
        )
    )
    bad = store.create_task(
        TaskRecord(
            name="bad commit", script={"repository": str(repo), "commit": "f" * 40, "entry_point": "x.py"}
        )
    )
    for t in (task, bad):
        store.enqueue(t.id, "default")
    agent = agents.start(
        agent_env(tmp_path, db_url=sqlite_url), "--queue", "default", "--same-env", "--max-tasks", "2"
    )
    assert agent.wait(60) == 0
    assert store.get_task(task.id).status == "completed"
    assert "greeting patched" in [line.text for line in store.get_console(task.id)]
    failed = store.get_task(bad.id)
    assert failed.status == "failed" and "cannot check out" in failed.status_message


def test_task_runs_in_a_uv_environment_with_its_requirements(
    sqlite_store: Any, sqlite_url: str, tmp_path: Path, agents: Agents
) -> None:
    store = sqlite_store
    store.ensure_queue("default")
    wheel = _tiny_wheel(tmp_path)
    code = (
        "import sys, tinypkg, ductwork\n"
        "print('value', tinypkg.VALUE, 'venv', sys.prefix != sys.base_prefix)\n"
    )
    tasks = [
        store.create_task(
            TaskRecord(
                name=f"venv{i}", script={"code": code}, requirements={"pip": f"tinypkg @ {wheel.as_uri()}"}
            )
        )
        for i in range(2)
    ]
    for task in tasks:
        store.enqueue(task.id, "default")
    agent = agents.start(agent_env(tmp_path, db_url=sqlite_url), "--queue", "default", "--max-tasks", "2")
    assert agent.wait(120) == 0
    for task in tasks:
        assert store.get_task(task.id).status == "completed", store.get_task(task.id).status_message
        assert "value 42 venv True" in [line.text for line in store.get_console(task.id)]
    built = [
        line.text for t in tasks for line in store.get_console(t.id) if "building environment" in line.text
    ]
    assert len(built) == 1  # the second task reused the first one's environment
    assert len(list((tmp_path / "venvs").iterdir())) == 1


def test_a_task_ending_while_the_server_is_down_is_recorded_when_it_returns(
    live_server: Any, server_agents: ServerAgents
) -> None:
    store = live_server.store
    store.ensure_queue("default")
    task = code_task(
        store,
        "outlives",
        "import os, time\nopen(os.path.expanduser('~/started'), 'w').close()\ntime.sleep(2)\n",
    )
    store.enqueue(task.id, "default")
    machine, agent = server_agents.start("outlasting", "--queue", "default", "--same-env", "--max-tasks", "1")
    wait_for((machine.work / "started").exists, 20, "the task to start")
    live_server.stop()  # the task ends while no server answers
    time.sleep(3)
    assert store.get_task(task.id).status == "in_progress"
    helpers = sys.modules["_server_conftest"]  # loaded by the live_server fixture
    port = int(live_server.url.rsplit(":", 1)[1])
    again = helpers.start_server(store, key=live_server.key, port=port)
    try:
        assert agent.wait(30) == 0, machine.log("agent.log")
        assert store.get_task(task.id).status == "completed"
    finally:
        again.stop()


def test_an_agent_stopped_while_the_server_is_down_exits_without_waiting_out_the_retry_window(
    live_server: Any, server_agents: ServerAgents
) -> None:
    """Unregistering is not worth a pod's shutdown grace: with the server gone, a SIGTERMed idle
    agent says so and exits (the heartbeat timeout retires its worker), instead of retrying
    its unregister call for the whole retry window (300 s by default)."""
    live_server.store.ensure_queue("default")
    machine, agent = server_agents.start("leaving", "--queue", "default", "--same-env")
    wait_for(lambda: "listening on" in machine.log("agent.log"), 20, "the agent to start")
    live_server.stop()
    agent.send_signal(signal.SIGTERM)
    try:
        code = agent.wait(60)
    except subprocess.TimeoutExpired:
        agent.kill()
        raise AssertionError("the agent kept retrying after SIGTERM:\n" + machine.log("agent.log")) from None
    assert code == 0, machine.log("agent.log")
    assert "could not unregister" in machine.log("agent.log")


def test_uv_environment_is_built_once_and_reused(sqlite_store: Any, tmp_path: Path) -> None:
    """A task's venv imports ductwork from the agent and a local wheel from its requirements."""
    from ductwork.agent import environment

    wheel = _tiny_wheel(tmp_path)
    requirements = {"pip": f"tinypkg @ {wheel.as_uri()}\n"}
    root = tmp_path / "venvs"
    messages: list[str] = []
    python = environment.venv_python(requirements, root, log=messages.append)
    built = Path(python).stat().st_mtime_ns
    assert environment.venv_python(requirements, root, log=messages.append) == python
    assert len(messages) == 1  # built once, then reused as it is
    assert Path(python).stat().st_mtime_ns == built and len(list(root.iterdir())) == 1
    import subprocess

    out = subprocess.run(
        [python, "-c", "import tinypkg, ductwork; print(tinypkg.VALUE, ductwork.__name__)"],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"]},
    )
    assert out.stdout.split() == ["42", "ductwork"], out.stderr
    assert environment.environment_key({"pip": "a\nb"}) == environment.environment_key({"pip": "b\n\na\n"})
    assert environment.environment_key({"pip": "a"}) != environment.environment_key({"pip": "a==2"})


def _tiny_wheel(folder: Path) -> Path:
    """A one-module wheel built by hand (no build backend, no download)."""
    import base64
    import hashlib
    import zipfile

    files = {
        "tinypkg/__init__.py": "VALUE = 42\n",
        "tinypkg-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.0\n",
        "tinypkg-1.0.dist-info/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    record.append("tinypkg-1.0.dist-info/RECORD,,")
    path = folder / "tinypkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
        archive.writestr("tinypkg-1.0.dist-info/RECORD", "\n".join(record) + "\n")
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (killed, not yet reaped by its dead parent) counts as gone
    try:
        return Path(f"/proc/{pid}/status").read_text().find("State:\tZ") < 0
    except OSError:
        return False


pytestmark = pytest.mark.slow


def test_a_task_whose_code_cannot_start_fails_with_the_reason(
    sqlite_store: Any, sqlite_url: str, tmp_path: Path, agents: Agents
) -> None:
    store = sqlite_store
    store.ensure_queue("default")
    nothing = store.create_task(TaskRecord(name="no code"))
    bad_repo = store.create_task(
        TaskRecord(
            name="bad repository", script={"repository": str(tmp_path / "nope"), "entry_point": "x.py"}
        )
    )
    missing_dir = store.create_task(
        TaskRecord(name="no dir", script={"module": "json.tool", "working_dir": "../missing"})
    )
    for task in (nothing, bad_repo, missing_dir):
        store.enqueue(task.id, "default")
    agent = agents.start(
        agent_env(tmp_path, db_url=sqlite_url), "--queue", "default", "--same-env", "--max-tasks", "3"
    )
    assert agent.wait(60) == 0
    messages = {t.name: store.get_task(t.id) for t in (nothing, bad_repo, missing_dir)}
    assert {t.status for t in messages.values()} == {"failed"}
    assert "no code to run" in messages["no code"].status_message
    assert "cannot clone" in messages["bad repository"].status_message
    assert "'../missing' leads out" in messages["no dir"].status_message
