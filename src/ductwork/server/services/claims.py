"""Long-poll claims: an idle agent's request waits on the `work` doorbell, not on a timer.

The claim itself is the store's atomic `claim` (SKIP LOCKED on PostgreSQL, BEGIN IMMEDIATE on
SQLite), so however many agents wake for one entry, exactly one gets it.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool

from ductwork.core import orphans
from ductwork.core.errors import StorageError, ValidationError
from ductwork.core.records import TaskRecord
from ductwork.server.services.hub import Hub

MAX_WAIT_S = 60.0
GONE_CHECK_S = 1.0
# A claim waiting while the server shuts down: a 503, which agents retry quietly.
CLOSING = "the server is shutting down; ask again in a moment"


async def claim(
    hub: Hub,
    queues: Sequence[str],
    worker: str,
    wait: float,
    gone: Callable[[], Awaitable[bool]] | None = None,
    *,
    end: Mapping[str, Any] | None = None,
) -> TaskRecord | None:
    """The next task on `queues` for `worker`, waiting up to `wait` seconds for one to arrive.

    `gone` says whether the caller hung up (an agent stopped mid long-poll): a task claimed
    for a caller that is gone goes straight back to its queue instead of being lost with it.
    `end`: the worker's previous run's end, recorded in the first claim's transaction."""
    if not queues:
        raise ValidationError("claim needs at least one queue name")
    if not worker:
        raise ValidationError("claim needs the worker id")
    deadline = time.monotonic() + _bounded(float(wait))
    rung = False
    said = False  # whether this call recorded an end: closing then answers null, not 503
    while True:
        if hub.closing:
            return _closing(said)
        seen = hub.work.generation
        try:
            task: TaskRecord | None = await run_in_threadpool(
                functools.partial(hub.store.claim, list(queues), worker, end=end)
            )
        except BaseException:
            if rung:
                hub.work.ring()  # this claim was woken for work it never took: pass the wake on
            raise
        if end is not None:
            end, said = None, True  # a 503 now would have the agent say its end twice
            if task is None:
                hub.touched()  # the end changed a task (a claimed task says so below)
        if task is not None:
            if gone is not None and await gone():
                await run_in_threadpool(orphans.give_back, hub.store, task, f"worker {worker} hung up")
                hub.work.ring()
                return None
            hub.touched()
            return task
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if hub.closing:
                return _closing(said)
            # Wake on new work, or every GONE_CHECK_S to notice a caller that hung up (a
            # stopped agent), so no handler outlives its connection by more than that.
            rung = await hub.work.wait(seen, min(left, GONE_CHECK_S), queues)
            if gone is not None and await gone():
                if rung:
                    hub.work.ring()  # woken for a task it will not claim: another waiter may
                return None
            if rung:
                break


def _closing(said: bool) -> TaskRecord | None:
    """A claim's answer while the server shuts down: a 503 (agents retry quietly), or null
    once the call recorded its end (a retry would say the end twice)."""
    if not said:
        raise StorageError(CLOSING)
    return None


def _bounded(wait: float) -> float:
    # NaN compares false with everything, so it would make a deadline no wait ever reaches.
    return min(max(wait, 0.0), MAX_WAIT_S) if math.isfinite(wait) else (MAX_WAIT_S if wait > 0 else 0.0)
