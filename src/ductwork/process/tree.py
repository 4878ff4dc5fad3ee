"""Stopping a child with everything it started: its process group, gently and then not."""

from __future__ import annotations

import os
import signal
import threading

from ductwork.process.child import Child

# How long a child gets between SIGTERM and SIGKILL.
TERM_GRACE_S = 3.0
# How long a child's end is waited for after SIGKILL (a forked child's end comes by its server).
KILL_WAIT_S = 5.0


def kill_tree(child: Child, grace: float = TERM_GRACE_S) -> int:
    """SIGTERM the child's process group, SIGKILL it if the child is still there after `grace`
    seconds; members that ignored SIGTERM go with the SIGKILL even when the child itself obeyed.
    Answers the child's exit code (-SIGKILL when its end never came)."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, KILL_WAIT_S)):
        if not _signal_group(child.pid, sig):
            break
        code = child.poll(wait)
        if code is not None:
            _signal_group(child.pid, signal.SIGKILL)
            return code
    code = child.poll(KILL_WAIT_S)
    return -signal.SIGKILL if code is None else code


def kill_tree_later(child: Child, grace: float = TERM_GRACE_S) -> threading.Thread:
    """`kill_tree` on a thread of its own: the caller goes on while the grace period runs."""
    thread = threading.Thread(target=kill_tree, args=(child, grace), name=f"kill-{child.pid}", daemon=True)
    thread.start()
    return thread


def _signal_group(pgid: int, sig: int) -> bool:
    """Send `sig` to the group; False when there is no such group (left) to signal."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True
