"""Children forked from a warm pool: they run a module as `python -m` would, with their own
environment, folder and paths; one server (and one import of what it preloads) serves many."""

from __future__ import annotations

import ast
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ductwork.process import Forked, Output, WarmPool, kill_tree
from ductwork.process.warm import LOST

CHILD = """
import os, sys
import preloaded
print("cwd", os.getcwd())
print("env", os.environ.get("STEP"), os.environ.get("SERVER_ONLY"))
print("parent", os.getppid(), "session", os.getsid(0) == os.getpid())
print("name", __name__, "argv0", os.path.basename(sys.argv[0]))
print("imports", preloaded.IMPORTS)
print("to stderr", file=sys.stderr)
how = os.environ.get("END", "")
if how == "raise":
    raise RuntimeError("boom")
if how == "message":
    sys.exit("bad input")
if how == "sleep":
    import time
    time.sleep(60)
if how == "hang":
    import signal, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("hanging", flush=True)
    time.sleep(60)
if how:
    sys.exit(int(how))
"""


@pytest.fixture
def modules(tmp_path: Path) -> Path:
    """`child` (the module forked children run) and `preloaded`, which counts its imports."""
    folder = tmp_path / "mods"
    folder.mkdir()
    (folder / "child_main.py").write_text(CHILD)
    (folder / "preloaded.py").write_text(
        "import os\n"
        f"with open({str(tmp_path / 'imports')!r}, 'a') as f:\n"
        "    f.write('x')\n"
        f"IMPORTS = len(open({str(tmp_path / 'imports')!r}).read())\n"
    )
    return folder


@pytest.fixture
def pool(modules: Path) -> Iterator[WarmPool]:
    paths = os.pathsep.join(filter(None, [str(modules), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": paths, "SERVER_ONLY": "1"}
    warm = WarmPool("child_main", ["preloaded"], env=env)
    yield warm
    warm.close()


def _run(pool: WarmPool, cwd: Path, **env: str) -> tuple[int, dict[str, list[str]]]:
    child = pool.fork({"STEP": "s", **env}, str(cwd), [])
    assert isinstance(child, Forked), "the warm path failed"
    got: dict[str, list[str]] = {"stdout": [], "stderr": []}
    output = Output(child, lambda name, lines: got[name].extend(lines))
    code = child.wait()
    output.join(5)
    return code, got


def test_a_forked_child_runs_the_module_and_returns_its_exit_code(pool: WarmPool, tmp_path: Path) -> None:
    code, got = _run(pool, tmp_path, END="7")
    assert code == 7
    out = got["stdout"]
    assert f"cwd {tmp_path}" in out
    assert "env s None" in out  # the child's environment is the request's, all of it
    assert "name __main__ argv0 child_main.py" in out
    assert any(line.startswith("parent") and line.endswith("session True") for line in out)
    assert got["stderr"] == ["to stderr"]


@pytest.mark.parametrize(("end", "code"), [("", 0), ("0", 0), ("raise", 1), ("message", 1)])
def test_a_forked_child_ends_as_python_m_would(pool: WarmPool, tmp_path: Path, end: str, code: int) -> None:
    got_code, got = _run(pool, tmp_path, END=end)
    assert got_code == code
    if end == "raise":
        assert got["stderr"][-1] == "RuntimeError: boom"
    if end == "message":
        assert got["stderr"][-1] == "bad input"


def test_the_pool_is_reused_and_preloads_once(pool: WarmPool, tmp_path: Path) -> None:
    parents = set()
    for _ in range(3):
        code, got = _run(pool, tmp_path)
        assert code == 0
        assert "imports 1" in got["stdout"]  # imported by the server, not by each child
        parents.update(line.split()[1] for line in got["stdout"] if line.startswith("parent"))
    assert len(parents) == 1  # one server forked all three
    assert (tmp_path / "imports").read_text() == "x"
    assert pool.preload(["json", "no_such_module_here"]) == ["json"]


def test_kill_tree_ends_a_forked_child_that_ignores_sigterm(pool: WarmPool, tmp_path: Path) -> None:
    child = pool.fork({"END": "hang"}, str(tmp_path), [])
    assert child is not None
    lines: list[str] = []
    Output(child, lambda _name, batch: lines.extend(batch))
    assert child.poll(10) is None
    assert kill_tree(child, grace=0.2) == -signal.SIGKILL
    assert "hanging" in lines


def test_a_forked_child_is_killable_as_a_tree_as_soon_as_its_pid_is_known(
    pool: WarmPool, tmp_path: Path
) -> None:
    for _ in range(5):  # its session exists before the pid is told, or the kill misses it
        child = pool.fork({"END": "sleep"}, str(tmp_path), [])
        assert child is not None
        Output(child, lambda _name, _lines: None)
        started = time.monotonic()
        assert kill_tree(child, grace=10.0) == -signal.SIGTERM
        assert time.monotonic() - started < 5.0


def test_a_forked_child_ends_with_its_server(pool: WarmPool, tmp_path: Path) -> None:
    child = pool.fork({"END": "hang"}, str(tmp_path), [])
    assert child is not None
    Output(child, lambda _name, _lines: None)
    pool.close()
    assert child.poll(10) == LOST
    assert pool.fork({}, str(tmp_path), []) is None  # closed: start children fresh


def test_a_pool_whose_server_cannot_start_forks_nothing(tmp_path: Path) -> None:
    broken = WarmPool("child_main", env={"PYTHONHOME": str(tmp_path / "nowhere")})
    try:
        assert broken.fork({}, str(tmp_path), []) is None
        assert broken.fork({}, str(tmp_path), []) is None
        assert broken.preload(["json"]) == []
    finally:
        broken.close()


def test_the_server_imports_nothing_of_ductwork_but_the_process_package(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "report.py").write_text(
        "import sys\nprint(sorted(m for m in sys.modules if m.startswith('ductwork')))\n"
    )
    paths = os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))
    warm = WarmPool("report", env={**os.environ, "PYTHONPATH": paths})
    try:
        child = warm.fork(dict(os.environ), str(tmp_path), [])
        assert child is not None
        lines: list[str] = []
        output = Output(child, lambda _name, batch: lines.extend(batch))
        assert child.wait() == 0
        output.join(5)
        imported = ast.literal_eval(lines[0])
        assert "ductwork.process.child" in imported
        assert [m for m in imported if m != "ductwork" and not m.startswith("ductwork.process.")] == [
            "ductwork.process"
        ]
    finally:
        warm.close()


def test_a_killed_parents_fork_server_leaves_no_socket_folder(modules: Path) -> None:
    """kill -9 of the process that started the server: the server ends, and takes its socket
    folder with it (the parent could not)."""
    code = (
        "import time\n"
        "from ductwork.process import WarmPool\n"
        "pool = WarmPool('child_main')\n"
        "print(pool._ready_address(), flush=True)\n"
        "time.sleep(60)\n"
    )
    paths = os.pathsep.join(filter(None, [str(modules), os.environ.get("PYTHONPATH")]))
    parent = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": paths},
    )
    assert parent.stdout is not None
    address = Path(parent.stdout.readline().strip())
    assert address.is_socket()
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 30  # the server looks for its parent every second
    while address.parent.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not address.parent.exists()


if not sys.platform.startswith("linux"):
    pytestmark = pytest.mark.skip("fork servers and /proc are Linux here")
