"""Private folders for Unix sockets, and the ones killed processes left behind.

A process that serves a Unix socket (a local run's pipe server, a fork server) makes it in a
folder of its own under the temporary directory (mode 0700: only its user can connect) and
removes both when it closes. A process killed outright (kill -9, the OOM killer) cannot, so
each new folder is made after a sweep of the older ones (every `ductwork-*` folder holding a
socket named `SOCKET`: a fork server's too, made by `process.warm`, which stands on the
standard library alone): leftovers never pile up.

A folder is a leftover when its socket refuses connections (nobody listens; unlike a pid, this
holds across PID namespaces sharing the folder) and it has not changed for `STALE_AFTER_S` (a
new server binds, then listens: in between, its socket refuses too). A folder without a socket
is left alone: its server may still be starting (a fork server binds after its imports).
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import tempfile
import time

SOCKET = "s"  # the socket's name inside its folder
PREFIX = "ductwork-"
STALE_AFTER_S = 60.0


def folder(prefix: str) -> str:
    """A new private folder named `prefix`... for a socket named `SOCKET`, made after removing
    the leftovers of earlier ones (its path is returned; the caller binds the socket)."""
    sweep()
    return tempfile.mkdtemp(prefix=prefix)


def sweep(prefix: str = PREFIX) -> int:
    """Remove this user's leftover socket folders whose names start with `prefix`; how many
    went. Never fails: a folder it cannot read or remove is left as it was."""
    if not hasattr(os, "getuid") or not hasattr(socket, "AF_UNIX"):
        return 0
    removed = 0
    try:
        entries = os.scandir(tempfile.gettempdir())
    except OSError:
        return 0
    with entries:
        for entry in entries:
            if entry.name.startswith(prefix) and _left_over(entry.path):
                removed += _remove(entry.path)
    return removed


def _left_over(path: str) -> bool:
    try:
        info = os.lstat(path)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            return False
        if time.time() - info.st_mtime < STALE_AFTER_S:
            return False
        address = os.path.join(path, SOCKET)
        if not stat.S_ISSOCK(os.lstat(address).st_mode):
            return False
    except OSError:  # gone meanwhile, or no socket in it
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(address)  # a live server accepts, reads nothing and lets go
        except ConnectionRefusedError:
            return True
        except OSError:  # a full backlog, a timeout: alive, or not ours to judge
            return False
    return False


def _remove(path: str) -> int:
    """The socket, then the folder if nothing else is in it (what else is there is not ours)."""
    with contextlib.suppress(OSError):
        os.unlink(os.path.join(path, SOCKET))
    try:
        os.rmdir(path)
    except OSError:
        return 0
    return 1
