"""The folders agents run tasks in, and removing the ones killed agents left behind.

An agent removes a task's folder when the task ends, but an agent killed with SIGKILL (or a
machine's OOM killer) runs no cleanup, and a checkout or a task's outputs can be large. So each
folder has a lock file beside it, held (`flock`) by the agent using it for as long as it does;
the kernel drops the lock when that process dies, however it dies. An agent that starts removes
every folder whose lock nobody holds. Folders live under `$TMPDIR/ductwork-agents-<uid>`, one
per user, so agents of one user on one machine find each other's leftovers and no other user's.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# A lock file younger than this is spared: its agent may not have locked it yet.
NEW_S = 60.0


def root() -> Path:
    """This user's folder of task folders, made private; refused if someone else made it."""
    path = Path(tempfile.gettempdir()) / f"ductwork-agents-{os.getuid()}"
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise PermissionError(f"{path} is not a folder of this user's: agents will not put tasks in it")
    return path


@contextmanager
def folder(task_id: str) -> Iterator[Path]:
    """A fresh folder for one task, removed when the block ends (or by a later agent's sweep)."""
    handle, lock_path = tempfile.mkstemp(prefix=f"{task_id[:8]}-", suffix=".lock", dir=root())
    lock = Path(lock_path)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        path = lock.with_suffix("")
        path.mkdir(mode=0o700)
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)
    finally:
        lock.unlink(missing_ok=True)
        os.close(handle)


def sweep() -> int:
    """Remove the task folders no living agent holds; how many were removed."""
    base = root()
    removed = 0
    for lock in sorted(base.glob("*.lock")):
        if _abandoned(lock):
            shutil.rmtree(lock.with_suffix(""), ignore_errors=True)
            lock.unlink(missing_ok=True)
            removed += 1
    return removed


def _abandoned(lock: Path) -> bool:
    try:
        handle = os.open(lock, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:  # gone meanwhile, or not ours to open
        return False
    try:
        if time.time() - os.fstat(handle).st_mtime < NEW_S:
            return False
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # its agent is alive
        return True
    finally:
        os.close(handle)  # also releases our lock: the folder is removed after, never used again
