"""The CLI around live work (issue 16): `pipelines watch` following a run until it ends, shell
completion, a busy port, a missing or refused API key, the agent's line per task, and no
`ductwork-*` folder left in the temporary directory by a run.

Every command runs as a separate process with its own home and its own TMPDIR.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

PIPELINE = textwrap.dedent(
    """
    import sys
    from ductwork import PipelineDecorator

    @PipelineDecorator.component(return_values=["x"])
    def hold(flag: str, fail: bool) -> int:
        import os, time
        while not os.path.exists(flag):  # the test says when the step may end
            time.sleep(0.02)
        if fail:
            raise RuntimeError("told to fail")
        return 1

    @PipelineDecorator.pipeline(name="watched", project="cli live", version="1")
    def flow(flag: str, fail: bool) -> None:
        print(hold(flag, fail))

    if __name__ == "__main__":
        PipelineDecorator.run_locally()
        flow(sys.argv[1], sys.argv[2] == "fail")
    """
)


class Env:
    def __init__(self, root: Path) -> None:
        self.home, self.tmp = root / "home", root / "tmp"
        self.tmp.mkdir(parents=True)
        self.vars = {k: v for k, v in os.environ.items() if not k.startswith(("DUCTWORK_", "TTY_"))}
        self.vars.update(DUCTWORK_HOME=str(self.home), PYTHONPATH=str(SRC), TMPDIR=str(self.tmp))

    def run(self, *args: str, ok: bool = True, **extra: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "ductwork", *args],
            capture_output=True,
            text=True,
            env={**self.vars, **extra},
            timeout=120,
        )
        if ok and done.returncode != 0:
            raise AssertionError(
                f"ductwork {' '.join(args)}: {done.returncode}\n{done.stdout}\n{done.stderr}"
            )
        return done

    def start(self, argv: list[str], **extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**self.vars, **extra},
        )

    def python(self, code: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=self.vars, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def leftovers(self) -> list[str]:
        """`ductwork-*` entries in this TMPDIR, but the artifact cache (shared by runs on purpose)
        and the agents' folder of task folders (agent/scratch: kept, but empty once tasks end)."""
        found = [p for p in self.tmp.glob("ductwork-*") if not p.name.startswith("ductwork-cache-")]
        agents = self.tmp / f"ductwork-agents-{os.getuid()}"
        if agents.is_dir() and not any(agents.iterdir()):
            found.remove(agents)
        return sorted(p.name for p in found)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    yield Env(tmp_path)


def _run_id(env: Env, pipeline: subprocess.Popen[str]) -> str:
    """The id of the run the pipeline process started, once it is stored."""
    while True:
        assert pipeline.poll() is None, pipeline.communicate()
        runs = json.loads(env.run("pipelines", "list", "--json").stdout)
        if runs:
            return str(runs[0]["id"])


def _read_until(process: subprocess.Popen[str], text: str) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        if text in line:
            return lines
    raise AssertionError(
        f"{text!r} never came:\n" + "\n".join(lines) + (process.stderr.read() if process.stderr else "")
    )


@pytest.mark.parametrize("outcome", ["completed", "failed"])
def test_watch_follows_a_run_until_it_ends_with_its_exit_status(
    env: Env, tmp_path: Path, outcome: str
) -> None:
    script, flag = tmp_path / "flow.py", tmp_path / "go"
    script.write_text(PIPELINE)
    fail = "fail" if outcome == "failed" else "ok"
    pipeline = env.start([sys.executable, str(script), str(flag), fail])
    try:
        run_id = _run_id(env, pipeline)
        watch = env.start(
            [sys.executable, "-m", "ductwork", "pipelines", "watch", run_id[:8], "--interval", "0.1"]
        )
        seen = _read_until(watch, "hold: running")  # live: the step is seen running
        assert any(line.endswith("(run): running") for line in seen), seen
        flag.write_text("go")
        rest, errors = watch.communicate(timeout=120)
        pipeline.wait(timeout=120)
    finally:
        pipeline.kill()
    lines = rest.splitlines()
    assert f"hold: {outcome}" in "\n".join(lines), rest
    assert lines[-1].startswith(f"run {run_id} {outcome} in "), rest
    assert watch.returncode == (0 if outcome == "completed" else 1), errors
    assert "Traceback" not in errors
    assert env.leftovers() == []  # the run, its step process and the CLI left nothing behind


def test_shell_completion_scripts_and_answers(env: Env) -> None:
    assert "_DUCTWORK_COMPLETE=bash_complete" in env.run("completion", "bash").stdout
    assert "#compdef ductwork" in env.run("completion", "zsh").stdout
    assert "complete --no-files --command ductwork" in env.run("completion", "fish").stdout
    assert env.run("completion", "tcsh", ok=False).returncode == 2

    def complete(words: str) -> list[str]:
        cword = str(len(words.split()) - (0 if words.endswith(" ") else 1))
        done = env.run(_DUCTWORK_COMPLETE="bash_complete", COMP_WORDS=words, COMP_CWORD=cword)
        return [line.split(",", 1)[1] for line in done.stdout.splitlines() if line]

    assert "pipelines" in complete("ductwork pip")
    assert complete("ductwork pipelines wa") == ["watch"]  # a lazily imported group completes too
    task_id = env.python(
        "from ductwork import client\nfrom ductwork.core.records import TaskRecord\n"
        "print(client.backend().create_task(TaskRecord(name='t')).id)"
    )
    assert complete(f"ductwork tasks show {task_id[:4]}") == [task_id]
    assert complete("ductwork pipelines show ") == []  # a task is not a run


def _busy_port() -> socket.socket:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    return holder


@pytest.mark.parametrize("command", [["ui"], ["server"], ["demo"]])
def test_a_busy_port_is_a_sentence_before_anything_is_printed(env: Env, command: list[str]) -> None:
    with _busy_port() as holder:
        port = str(holder.getsockname()[1])
        done = env.run(*command, "--port", port, ok=False)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stdout == ""  # no URL, no admin secret, no demo run
    assert f"port {port} on 127.0.0.1 is already in use by another program" in done.stderr
    assert "choose another port with --port" in done.stderr
    assert "Errno" not in done.stderr and "Traceback" not in done.stderr
    assert not (env.home / "ductwork.db").exists() or command != ["demo"]


def test_a_missing_or_refused_api_key_names_the_variables(env: Env) -> None:
    server = env.start([sys.executable, "-m", "ductwork", "server", "--port", "0"])
    try:
        started = _read_until(server, "ductwork server on ")
        url = started[-1].split(" on ", 1)[1].split()[0]
        token = next(line.split("=", 1)[1] for line in started if "export DUCTWORK_API_KEY=" in line)
        client = {"DUCTWORK_API_URL": url, "DUCTWORK_HOME": str(env.home / "elsewhere")}
        missing = env.run("tasks", "list", ok=False, **client)
        wrong = env.run("tasks", "list", ok=False, DUCTWORK_API_KEY="dw_wrong", **client)
        right = env.run("tasks", "list", "--json", DUCTWORK_API_KEY=token, **client)
    finally:
        server.terminate()
        server.communicate(timeout=60)
    for done, said in ((missing, "DUCTWORK_API_KEY is not set"), (wrong, "DUCTWORK_API_KEY was refused")):
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert f"{said} for the server at DUCTWORK_API_URL={url}" in done.stderr, done.stderr
        assert "ductwork keys create" in done.stderr
        assert "dw_wrong" not in done.stderr
    assert json.loads(right.stdout)["total"] == 0


def test_the_agent_says_each_task_it_takes_and_finishes(env: Env) -> None:
    code = (
        "from ductwork import client\nfrom ductwork.core.records import TaskRecord\n"
        "b = client.backend(); b.ensure_queue('q')\n"
        "for name in ('first', 'second'):\n"
        "    script = {'code': 'print(1)', 'entry_point': 'main.py'}\n"
        "    t = b.create_task(TaskRecord(name=name, script=script))\n"
        "    b.enqueue(t.id, 'q'); print(t.id)\n"
    )
    first, second = env.python(code).split()
    loud = env.run("agent", "--queue", "q", "--same-env", "--max-tasks", "1").stdout
    assert f"took     {first}  first  queue q" in loud, loud
    finished = next(line for line in loud.splitlines() if line.startswith(f"finished {first}"))
    assert finished.split()[2:6] == ["first", "queue", "q", "completed"], finished
    assert finished.endswith("s") and float(finished.split()[-1][:-1]) >= 0
    quiet = env.run("agent", "--queue", "q", "--same-env", "--max-tasks", "1", "--quiet").stdout
    assert second not in quiet and "took" not in quiet and "finished" not in quiet
    assert json.loads(env.run("tasks", "show", second, "--json").stdout)["task"]["status"] == "completed"
    assert env.leftovers() == []  # the agent's task folders and its fork server's socket folder


def test_the_demo_leaves_no_temporary_folder(env: Env) -> None:
    env.run("demo", "--no-ui")
    assert env.leftovers() == []


def test_a_configuration_copy_made_under_an_agent_is_removed_when_the_task_ends(env: Env) -> None:
    # connect_configuration(path) in a task an agent runs hands the code the stored text as a
    # file of its own (in TMPDIR): a clone's second run reads it back from there.
    task_code = (
        "from pathlib import Path\nfrom ductwork import Task\n"
        "Path('settings.json').write_text('{\"rate\": 1}')\n"
        "task = Task.init('cli live', 'configured')\n"
        "copy = task.connect_configuration(Path('settings.json'), name='settings')\n"
        "print('configuration at', copy, Path(copy).read_text())\n"
    )
    code = (
        "import sys\nfrom ductwork import Task, client\nfrom ductwork.core.records import TaskRecord\n"
        "b = client.backend(); b.ensure_queue('q')\n"
        "script = {'code': sys.argv[1], 'entry_point': 'main.py'}\n"
        "t = b.create_task(TaskRecord(name='configured', script=script)); b.enqueue(t.id, 'q')\n"
        "print(t.id)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, task_code], capture_output=True, text=True, env=env.vars, timeout=120
    )
    assert done.returncode == 0, done.stderr
    env.run("agent", "--queue", "q", "--same-env", "--max-tasks", "1", "--quiet")
    clone = env.python(
        f"from ductwork import Task\nc = Task.clone(source_task='{done.stdout.strip()}')\n"
        "Task.enqueue(c, queue_name='q'); print(c.id)"
    )
    env.run("agent", "--queue", "q", "--same-env", "--max-tasks", "1", "--quiet")
    shown = json.loads(env.run("tasks", "show", clone, "--json").stdout)
    assert shown["task"]["status"] == "completed", shown["console"]
    said = next(line["text"] for line in shown["console"] if "configuration at" in line["text"])
    assert f"configuration at {env.tmp}" in said and '{"rate": 1}' in said, said
    assert env.leftovers() == []


def test_a_wrong_server_url_fails_a_look_in_seconds_naming_the_variable(env: Env) -> None:
    with _busy_port() as holder:  # a port that is ours and never answers HTTP: refused once closed
        url = f"http://127.0.0.1:{holder.getsockname()[1]}"
    done = env.run(
        "tasks", "list", ok=False, DUCTWORK_API_URL=url, DUCTWORK_API_KEY="x", DUCTWORK_RETRY_WINDOW="0.5"
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"cannot reach ductwork server at {url} (DUCTWORK_API_URL)" in done.stderr
    from ductwork import terminal

    assert float(terminal.LOOK_RETRY_WINDOW_S) <= 10  # without the variable: seconds, not 300


def test_the_demo_serves_the_page_of_the_run_it_names(env: Env) -> None:
    import urllib.request

    demo = env.start([sys.executable, "-m", "ductwork", "demo", "--port", "0"])
    try:
        said = _read_until(demo, "Web UI: ")
        run_url = next(line.split(": ", 1)[1] for line in said if line.startswith("The run in the web UI: "))
        run_id = next(line.split(": ", 1)[1] for line in said if line.startswith("Pipeline run: "))
        assert run_url.endswith(f"/runs/{run_id}")
        with urllib.request.urlopen(run_url, timeout=30) as page:
            assert page.status == 200 and "model search" in page.read().decode()
    finally:
        demo.terminate()
        demo.communicate(timeout=60)
