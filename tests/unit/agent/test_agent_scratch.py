"""Task folders of agents: removed when the task ends, and by the next agent when one is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from ductwork.agent import scratch

SRC = str(Path(__file__).resolve().parents[3] / "src")

HOLD = """
import sys, time
from ductwork.agent import scratch
with scratch.folder(sys.argv[1]) as folder:
    (folder / "checkout.txt").write_text("work")
    print(folder, flush=True)
    time.sleep(600)
"""


@pytest.fixture(autouse=True)
def tmpdir_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("TMPDIR", str(tmp_path))


def old(path: Path) -> None:
    then = time.time() - 2 * scratch.NEW_S
    os.utime(path, (then, then))


def test_a_folder_is_private_and_gone_when_its_task_ends() -> None:
    with scratch.folder("0123456789abcdef") as folder:
        assert folder.is_dir() and folder.name.startswith("01234567")
        assert folder.parent == scratch.root() and oct(folder.stat().st_mode & 0o777) == "0o700"
        (folder / "big").write_bytes(b"x" * 1000)
        assert scratch.sweep() == 0  # held by this process
    assert list(scratch.root().iterdir()) == []


def test_a_killed_agents_folder_is_swept_a_living_ones_is_not() -> None:
    env = {**os.environ, "PYTHONPATH": SRC}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, "deadbeef00"], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert holder.stdout is not None
        folder = Path(holder.stdout.readline().strip())
        lock = folder.with_suffix(".lock")
        old(lock)
        assert scratch.sweep() == 0 and (folder / "checkout.txt").exists()  # its agent lives
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        assert folder.exists()  # SIGKILL ran no cleanup
        assert scratch.sweep() == 1
        assert not folder.exists() and not lock.exists()
    finally:
        holder.kill()
        holder.wait(10)


def test_a_lock_not_yet_taken_is_spared() -> None:
    handle, name = tempfile.mkstemp(suffix=".lock", dir=scratch.root())
    os.close(handle)
    Path(name).with_suffix("").mkdir()
    assert scratch.sweep() == 0  # just made: its agent may be about to lock it
    old(Path(name))
    assert scratch.sweep() == 1
    assert list(scratch.root().iterdir()) == []


def test_a_root_that_is_not_a_plain_folder_of_ours_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / f"ductwork-agents-{os.getuid()}").symlink_to(elsewhere)
    with pytest.raises(PermissionError, match="not a folder of this user's"):
        scratch.root()
