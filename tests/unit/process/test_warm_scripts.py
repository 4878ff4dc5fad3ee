"""A warm pool forks script tasks too: `fork(argv=...)` runs `script.py args` or `-m module args`
as a fresh `python ARGV` would (sys.argv, sys.path[0], __name__, exit code, traceback); an agent
keeps one pool per interpreter and starts a task fresh when forking would change how it starts."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ductwork.agent.process import ConsoleStream, Launcher
from ductwork.core.records import ConsoleLine
from ductwork.process import Forked, Output, WarmPool

SCRIPT = """
import os, sys
print("argv", sys.argv[1:], os.path.basename(sys.argv[0]))
print("path0", sys.path[0])
print("name", __name__)
import helper  # beside the script: importable as under `python script.py`
print("helper", helper.VALUE)
how = sys.argv[1] if len(sys.argv) > 1 else ""
if how == "raise":
    def deep():
        raise ValueError("bad value")
    deep()
if how.isdigit():
    sys.exit(int(how))
"""


@pytest.fixture
def pool() -> Iterator[WarmPool]:
    warm = WarmPool("json.tool", [])  # the default module is never run here
    yield warm
    warm.close()


@pytest.fixture
def script(tmp_path: Path) -> Path:
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "helper.py").write_text("VALUE = 42\n")
    path = folder / "task_script.py"
    path.write_text(SCRIPT)
    return path


def _run(pool: WarmPool, argv: list[str], cwd: Path) -> tuple[int, dict[str, list[str]]]:
    child = pool.fork(dict(os.environ), str(cwd), [], argv)
    assert isinstance(child, Forked), "the warm path failed"
    got: dict[str, list[str]] = {"stdout": [], "stderr": []}
    output = Output(child, lambda name, lines: got[name].extend(lines))
    code = child.wait()
    output.join(5)
    return code, got


def _fresh(argv: list[str], cwd: Path) -> tuple[int, dict[str, list[str]]]:
    import subprocess

    done = subprocess.run([sys.executable, *argv], cwd=cwd, capture_output=True, text=True, check=False)
    return done.returncode, {"stdout": done.stdout.splitlines(), "stderr": done.stderr.splitlines()}


@pytest.mark.parametrize("args", [[], ["a", "b"], ["3"], ["raise"]])
def test_a_forked_script_runs_as_a_fresh_python_would(
    pool: WarmPool, script: Path, tmp_path: Path, args: list[str]
) -> None:
    forked_code, forked = _run(pool, [str(script), *args], tmp_path)
    fresh_code, fresh = _fresh([str(script), *args], tmp_path)
    assert forked_code == fresh_code
    assert forked["stdout"] == fresh["stdout"]
    assert f"path0 {script.parent}" in forked["stdout"]
    # The traceback starts at the script, as a fresh interpreter's does (no server frames).
    assert forked["stderr"] == fresh["stderr"]


def test_a_forked_module_runs_as_python_m_would(pool: WarmPool, script: Path) -> None:
    argv = ["-m", "task_script", "x", "7"]
    forked_code, forked = _run(pool, argv, script.parent)
    fresh_code, fresh = _fresh(argv, script.parent)
    assert (forked_code, forked["stdout"]) == (fresh_code, fresh["stdout"])
    assert f"path0 {script.parent}" in forked["stdout"]
    assert "argv ['x', '7'] task_script.py" in forked["stdout"]


def _console() -> tuple[ConsoleStream, list[ConsoleLine]]:
    sent: list[ConsoleLine] = []
    return ConsoleStream("t" * 32, sent.extend), sent


def _launch(launcher: Launcher, argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, list[str]]:
    console, sent = _console()
    process = launcher.start({}, argv, cwd=cwd, env=env, paths=[], console=console)
    code = process.child.wait()
    process.finish()
    console.close()
    return code, [line.text for line in sent]


def test_the_agent_forks_scripts_per_interpreter_and_starts_odd_ones_fresh(
    script: Path, tmp_path: Path
) -> None:
    launcher = Launcher(warm=True)
    env = {k: v for k, v in os.environ.items() if k != "DUCTWORK_PIPE"}
    env["PYTHONUNBUFFERED"] = "1"
    try:
        code, lines = _launch(launcher, [sys.executable, str(script), "5"], tmp_path, env)
        assert code == 5 and "(forked warm)" in lines[0] and "helper 42" in lines
        # A start-up variable the warm server was not started with: a fresh interpreter.
        code, lines = _launch(
            launcher, [sys.executable, str(script)], tmp_path, {**env, "PYTHONHASHSEED": "7"}
        )
        assert code == 0 and "forked warm" not in lines[0] and "helper 42" in lines
        shell = tmp_path / "run.sh"
        shell.write_text("echo from bash\n")
        code, lines = _launch(launcher, ["bash", str(shell)], tmp_path, env)
        assert code == 0 and "forked warm" not in lines[0] and "from bash" in lines
        assert list(launcher._pools) == [sys.executable]  # one warm server, for this interpreter
    finally:
        launcher.close()
    cold = Launcher(warm=False)
    code, lines = _launch(cold, [sys.executable, str(script)], tmp_path, env)
    assert code == 0 and "forked warm" not in lines[0]
    cold.close()


def test_a_forked_script_ends_as_python_does(pool: WarmPool, tmp_path: Path) -> None:
    """os._exit skips interpreter shutdown: the fork server runs it itself, so a non-daemon
    thread still finishes and atexit handlers (a Task's close, after its background uploads) run."""
    marks = tmp_path / "marks.txt"
    script = tmp_path / "ending.py"
    script.write_text(
        "import atexit, threading, time\n"
        f"MARKS = {str(marks)!r}\n"
        "def mark(text):\n"
        "    with open(MARKS, 'a') as f:\n"
        "        f.write(text + '\\n')\n"
        "def upload():\n"
        "    time.sleep(0.3)\n"
        "    mark('thread')\n"
        "threading.Thread(target=upload).start()\n"
        "atexit.register(lambda: mark('atexit'))\n"
    )
    code, got = _run(pool, [str(script)], tmp_path)
    assert code == 0, got
    assert marks.read_text().splitlines() == ["thread", "atexit"]


MAIN = """
import atexit, os, pickle, sys, zipfile
class Point:
    x = 1
def at_exit():  # a Task's close pickles the script's objects at exit: __main__ is still the script
    print("pickled at exit", len(pickle.dumps(Point())) > 0, flush=True)
atexit.register(at_exit)
me = sys.modules["__main__"]
print("main is me", me.__dict__ is globals())
print("file", __file__ == os.path.abspath(sys.argv[0]), os.path.isabs(__file__))
print("package", __package__, "spec", __spec__, "cached", __cached__)
print("loader", type(__loader__).__name__, __loader__.name if __loader__ else None)
print("doc", __doc__, "name", __name__, "builtins", type(__builtins__).__name__)
print("caf\\xe9")
"""


def test_a_forked_script_is_main_as_under_python(pool: WarmPool, tmp_path: Path) -> None:
    """The script's module attributes, an encoding cookie, pickling its classes in an atexit
    handler, and a zip application (python's own rules, through runpy) match a fresh python."""
    script = tmp_path / "main_script.py"
    script.write_bytes(b"# -*- coding: latin-1 -*-\n" + MAIN.encode("latin-1"))
    forked_code, forked = _run(pool, [str(script)], tmp_path)
    fresh_code, fresh = _fresh([str(script)], tmp_path)
    assert (forked_code, forked) == (fresh_code, fresh)
    assert "pickled at exit True" in forked["stdout"] and "main is me True" in forked["stdout"]
    import zipfile

    app = tmp_path / "app.pyz"
    with zipfile.ZipFile(app, "w") as archive:
        archive.writestr("__main__.py", "import sys\nprint('zip app', __name__, sys.argv[1:])\n")
    assert _run(pool, [str(app), "x"], tmp_path) == _fresh([str(app), "x"], tmp_path)
    assert _run(pool, [str(app), "x"], tmp_path)[1]["stdout"] == ["zip app __main__ ['x']"]
