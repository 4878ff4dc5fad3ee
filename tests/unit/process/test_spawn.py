"""Fresh children: exit codes, output as lines, killing a tree, time limits and stops."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from ductwork.process import Output, kill_tree, pump, spawn, supervise

# A child that starts a grandchild in its own process group; the grandchild ignores SIGTERM
# and says its pid; the child waits (and obeys SIGTERM unless told to ignore it too).
TREE = """
import signal, subprocess, sys, time
grandchild = subprocess.Popen([sys.executable, "-c", (
    "import os, signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
    "print(os.getpid(), flush=True); time.sleep(60)")])
if sys.argv[1] == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting for its new parent to reap it)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_until(condition: object, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.02)
    return False


def _start_tree(mode: str) -> tuple[object, int]:
    child = spawn([sys.executable, "-c", TREE, mode], cwd=None, env=dict(os.environ))
    lines: list[str] = []
    Output(child, lambda _name, batch: lines.extend(batch))
    assert _wait_until(lambda: bool(lines)), "the grandchild never started"
    return child, int(lines[0])


def test_spawn_gives_exit_code_and_output_lines(tmp_path: Path) -> None:
    code = "import os, sys; print('out', os.getcwd()); print('err', file=sys.stderr); sys.exit(5)"
    child = spawn([sys.executable, "-c", code], cwd=tmp_path, env={**os.environ, "X": "1"})
    got: dict[str, list[str]] = {"stdout": [], "stderr": []}
    output = Output(child, lambda name, lines: got[name].extend(lines))
    assert child.wait() == 5
    output.join(5)
    assert got == {"stdout": [f"out {tmp_path}"], "stderr": ["err"]}
    assert child.poll(0) == 5


def test_pump_hands_over_whole_lines_and_the_unfinished_last_one() -> None:
    read, write = os.pipe()
    os.write(write, b"a\nb")
    os.write(write, b"c\n\xff\nend")
    os.close(write)
    batches: list[list[str]] = []
    with open(read, "rb") as stream:
        pump(stream, batches.append)
    assert [line for batch in batches for line in batch] == ["a", "bc", "\ufffd", "end"]


def test_kill_tree_takes_a_grandchild_that_ignores_sigterm() -> None:
    child, grandchild = _start_tree("obedient")
    assert _alive(grandchild)
    assert kill_tree(child, grace=5.0) == -signal.SIGTERM  # the child itself obeyed at once
    assert _wait_until(lambda: not _alive(grandchild)), "the grandchild outlived the kill"


def test_kill_tree_kills_a_child_that_ignores_sigterm_after_the_grace() -> None:
    child, grandchild = _start_tree("stubborn")
    started = time.monotonic()
    assert kill_tree(child, grace=0.3) == -signal.SIGKILL
    assert time.monotonic() - started >= 0.3
    assert _wait_until(lambda: not _alive(grandchild))


def test_kill_tree_of_an_ended_child_answers_its_code() -> None:
    child = spawn([sys.executable, "-c", "raise SystemExit(3)"], cwd=None, env=dict(os.environ))
    Output(child, lambda _name, _lines: None)
    assert child.wait() == 3
    assert kill_tree(child) == 3


def test_supervise_stops_a_child_past_its_time_limit() -> None:
    child = spawn([sys.executable, "-c", "import time; time.sleep(60)"], cwd=None, env=dict(os.environ))
    started = time.monotonic()
    ending = supervise(child, limit=0.3, every=0.05)
    assert ending.timed_out == 0.3 and ending.stopped_as is None
    assert ending.code == -signal.SIGTERM
    assert 0.3 <= time.monotonic() - started < 5.0


def test_supervise_stops_a_child_when_the_check_says_so() -> None:
    child = spawn([sys.executable, "-c", "import time; time.sleep(60)"], cwd=None, env=dict(os.environ))
    asked: list[float] = []

    def check() -> str | None:
        asked.append(time.monotonic())
        return "stopped" if len(asked) == 3 else None

    ending = supervise(child, check=check, every=0.05)
    assert ending.stopped_as == "stopped" and ending.timed_out is None
    assert ending.code == -signal.SIGTERM and len(asked) == 3


def test_supervise_returns_the_exit_code_of_a_child_that_ends() -> None:
    child = spawn([sys.executable, "-c", "raise SystemExit(4)"], cwd=None, env=dict(os.environ))
    assert supervise(child, limit=30, check=lambda: None, every=0.05).code == 4
