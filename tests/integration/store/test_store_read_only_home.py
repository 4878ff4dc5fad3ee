"""Issue 10, finding 2: every read command works on a read-only `$DUCTWORK_HOME`, and sees what
is still in the WAL file. The home is made read-only by a real read-only bind mount in a
private mount namespace (`unshare -rm`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[3] / "src"

# Two tasks, the second only in the WAL: the writer is SIGKILLed, so nothing checkpoints it.
MAKE = """
    import os, signal
    import numpy as np
    from ductwork import Task
    first = Task.init("ro", "first")
    first.upload_artifact("small", {"a": 1}, wait_on_upload=True)
    first.upload_artifact("array", np.arange(100_000), wait_on_upload=True)
    first.close()
    second = Task.init("ro", "only in the wal")
    second.close()
    print(first.id, second.id, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def _env(home: Path) -> dict[str, str]:
    env = {**os.environ, "DUCTWORK_HOME": str(home), "PYTHONPATH": str(SRC)}
    for name in ("DUCTWORK_DB_URL", "DUCTWORK_API_URL", "DUCTWORK_TASK_ID", "DUCTWORK_PIPE"):
        env.pop(name, None)
    return env


@pytest.mark.parametrize("index", ["wal-and-shm", "wal-only", "checkpointed"])
def test_read_commands_work_on_a_read_only_home(tmp_path: Path, index: str) -> None:
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rm", "true"], check=False).returncode:
        pytest.skip("needs `unshare -rm` (user and mount namespaces) for a read-only mount")
    home = tmp_path / "home"
    made = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(MAKE)],
        capture_output=True,
        text=True,
        env=_env(home),
        timeout=120,
    )
    first, second = made.stdout.split()
    wal = home / "ductwork.db-wal"
    assert wal.stat().st_size > 0
    if index == "wal-only":
        (home / "ductwork.db-shm").unlink()
    elif index == "checkpointed":
        import sqlite3

        db = sqlite3.connect(home / "ductwork.db")
        db.execute("SELECT count(*) FROM tasks").fetchone()
        db.close()  # the last connection checkpoints the WAL and removes it
        assert not wal.exists()
    cli = f"{sys.executable} -m ductwork"
    script = " && ".join(
        [
            f"mount --bind {home} {home}",
            f"mount -o remount,bind,ro {home}",
            f"{cli} tasks list",
            f"{cli} tasks show {second}",
            f"{cli} pipelines list",
            f"{cli} artifacts get {first} array",
            f"{cli} artifacts get {first} small",
            f"touch {home}/probe 2>/dev/null && echo WRITABLE || echo READ-ONLY",
        ]
    )
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, env=_env(home), timeout=300
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "READ-ONLY" in out and "WRITABLE" not in out
    assert first in out and second in out and "only in the wal" in out
    assert "/artifacts/blobs/" in out and ".json" in out  # a blob in place, an inline value copied
    assert "not writable" not in done.stderr
