"""Room kept beside a SQLite store for the writes that close a task when the disk fills.

A full disk refuses every write alike: the flood of points that filled it, and the small
updates that would say so on the task (its losses and its final status). SQLite appends every
change to its write-ahead log, so even a one-row update needs a few free pages. The store keeps a
file of its own beside the database and gives it up when a task closes with losses, so that the
closing writes find room: the task ends `failed` with its losses on record instead of staying
`in_progress` with the cause only on stderr. The next process to open the store makes the
reserve again once there is room.
"""

from __future__ import annotations

import os
from pathlib import Path

SIZE = 1 << 20  # a few hundred WAL pages: the closing writes need a handful


def path_of(database: Path) -> Path:
    return database.with_name(database.name + ".reserve")


def keep(database: Path) -> None:
    """Make the reserve beside `database` if it is missing (best effort: a read-only or full
    home simply has none)."""
    target = path_of(database)
    if target.exists():
        return
    staging = target.with_name(f"{target.name}.{os.getpid()}.part")
    try:
        with open(staging, "wb") as handle:
            handle.write(bytes(SIZE))  # written, not sparse: the blocks are really taken
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(staging, target)
    except OSError:
        staging.unlink(missing_ok=True)


def release(database: Path) -> bool:
    """Give the reserve's room back to the file system; False when there was none."""
    try:
        path_of(database).unlink()
    except OSError:
        return False
    return True
