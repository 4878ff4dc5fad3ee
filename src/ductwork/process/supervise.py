"""Waiting for a child's end: its own, a time limit, or a stop decided outside."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ductwork.process.child import Child
from ductwork.process.tree import TERM_GRACE_S, kill_tree


@dataclass(frozen=True)
class Ending:
    """How a supervised child ended."""

    code: int
    stopped_as: str | None = None  # what `check` answered when it had the child stopped
    timed_out: float | None = None  # the time limit (seconds) that was exceeded


def supervise(
    child: Child,
    *,
    limit: float | None = None,
    check: Callable[[], str | None] = lambda: None,
    every: float = 0.25,
    grace: float = TERM_GRACE_S,
) -> Ending:
    """Wait for `child` to end. Its tree is killed when it has run longer than `limit` seconds
    (since it started), or when `check`, asked every `every` seconds, answers a reason."""
    next_check = time.monotonic() + every
    while True:
        code = child.poll(every)
        if code is not None:
            return Ending(code)
        now = time.monotonic()
        if limit is not None and now - child.started > limit:
            return Ending(kill_tree(child, grace), timed_out=limit)
        if now >= next_check:
            next_check = now + every
            reason = check()
            if reason is not None:
                return Ending(kill_tree(child, grace), stopped_as=reason)
