"""Group commit for the busiest writes (metrics, console lines): concurrent requests share one
store transaction, so they share its commit (an fsync on SQLite, a WAL flush on PostgreSQL).

Without it, 50 clients reporting at once each wait for their own commit in turn, and on SQLite
(one writer at a time) every waiting request holds a thread of the pool: readers then wait for
a free thread behind writers that wait for the lock. Here one writer task per kind takes what
has queued while the previous commit ran, checks each request's permission, and writes all of
them in one call, on one thread. A request whose rows the store refuses does not fail the
others: the merged write is then redone request by request, and each gets its own answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from starlette.concurrency import run_in_threadpool

T = TypeVar("T")

MAX_ROWS = 5000  # rows one merged write takes (the HTTP client's own chunk)


@dataclass
class _Request(Generic[T]):
    rows: Sequence[T]
    check: Callable[[], None]  # the caller's permission, raised as the request's answer
    done: asyncio.Future[None]


@dataclass
class GroupWriter(Generic[T]):
    """Writes rows with `write` (one transaction a call), merging concurrent requests."""

    write: Callable[[Sequence[T]], None]
    _queue: list[_Request[T]] = field(default_factory=list)
    _running: bool = False
    merged: int = 0  # how many requests shared a commit with an earlier one (tests read it)

    async def submit(self, rows: Sequence[T], check: Callable[[], None]) -> None:
        """Write `rows` after `check()` passes, in the next commit; raises what either raised."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(_Request(rows, check, done))
        if not self._running:
            self._running = True
            asyncio.get_running_loop().create_task(self._drain())
        await done

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch: list[_Request[T]] = []
                total = 0
                while self._queue and (not batch or total + len(self._queue[0].rows) <= MAX_ROWS):
                    request = self._queue.pop(0)
                    batch.append(request)
                    total += len(request.rows)
                self.merged += len(batch) - 1
                errors = await run_in_threadpool(self._write_all, batch)
                for request, error in zip(batch, errors, strict=True):
                    if request.done.done():
                        continue  # the caller hung up
                    if error is None:
                        request.done.set_result(None)
                    else:
                        request.done.set_exception(error)
        finally:
            self._running = False
            if self._queue:  # queued while the last answers went out
                self._running = True
                asyncio.get_running_loop().create_task(self._drain())

    def _write_all(self, batch: list[_Request[T]]) -> list[BaseException | None]:
        errors: list[BaseException | None] = []
        for request in batch:
            try:
                request.check()
                errors.append(None)
            except Exception as error:
                errors.append(error)
        allowed = [request for request, error in zip(batch, errors, strict=True) if error is None]
        if not allowed:
            return errors
        try:
            self.write([row for request in allowed for row in request.rows])
            return errors
        except Exception as error:
            if len(allowed) == 1:
                return [error if e is None else e for e in errors]
        # One request's rows spoiled the merged write: each alone, each its own answer.
        return [
            self._alone(request) if error is None else error
            for request, error in zip(batch, errors, strict=True)
        ]

    def _alone(self, request: _Request[Any]) -> BaseException | None:
        try:
            self.write(request.rows)
            return None
        except Exception as error:
            return error
