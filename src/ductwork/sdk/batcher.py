"""Batched background writes: callers append in microseconds, one thread sends in bulk.

Metrics and console lines go through a `Batcher`: `put` appends to a deque (no lock, no
backend call); a daemon thread wakes every `interval` seconds, or as soon as `max_items` are
waiting, and hands everything waiting to `send` in one call.

No record is lost silently. A send the backend refuses for a value (ValidationError) is split
in halves until the refused records are found: only they are set aside, the rest is stored.
A send that fails otherwise (disk full, server away) is retried with back-off for the retry
window (`DUCTWORK_RETRY_WINDOW`) counted from the first failure of the outage; after it the
records are set aside. Set-aside records are handed to `lost` (which counts them on their
task), said on the original stderr and raised by the next `flush`.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from typing import Generic, Protocol, TypeVar

from ductwork.core import settings
from ductwork.core.errors import Conflict, NotFound, StatusError, StorageError, ValidationError
from ductwork.sdk import losses

T = TypeVar("T")

_RETRIES = 3  # for failures that are neither a refused value nor an unreachable store
_BACKOFF_MAX_S = 2.0
# Not worth retrying: the task is gone or closed to writes; every record would fail alike.
_FINAL = (NotFound, StatusError, Conflict)
# A value the backend cannot hold: ValidationError from the store or the server, or what a
# driver raises for it (an int beyond 64 bits, text that is not UTF-8).
_REFUSED = (ValidationError, ValueError, OverflowError)


class _Live(Protocol):
    """What the process does with every live batcher, whatever it batches."""

    def _drain(self) -> None: ...

    def _after_fork(self) -> None: ...


_all: weakref.WeakSet[_Live] = weakref.WeakSet()


class Batcher(Generic[T]):
    def __init__(
        self,
        send: Callable[[list[T]], None],
        *,
        name: str,
        interval: float = 0.5,
        max_items: int = 20_000,
        error_stream: Callable[[], object] | None = None,
        lost: Callable[[list[T], str], Iterable[str]] | None = None,
    ) -> None:
        self._send = send
        self._lost = lost
        self._name = name
        self._interval = interval
        self._max_items = max_items
        self._error_stream = error_stream
        self._items: deque[T] = deque()
        self._wake = threading.Event()
        self._lock = threading.Lock()  # one drain at a time (the thread or a flushing caller)
        self._thread: threading.Thread | None = None
        self._errors: list[BaseException] = []
        self._lost_tasks: set[str] = set()  # tasks whose records the errors above cost
        self._closed = False
        self._failing_since: float | None = None  # when the current outage began (monotonic)
        _all.add(self)

    def put(self, item: T) -> None:
        items = self._items
        items.append(item)
        if self._thread is None:
            self._start()
        if len(items) >= self._max_items:
            self._wake.set()

    def put_many(self, new: list[T]) -> None:
        self._items.extend(new)
        if self._thread is None:
            self._start()
        if len(self._items) >= self._max_items:
            self._wake.set()

    def kick(self) -> None:
        """Ask the thread to send now, without waiting for it."""
        self._wake.set()

    def flush(self) -> None:
        """Send everything put so far, in this thread; raise the first error any send hit."""
        self._drain()
        self._raise_errors()

    def close(self) -> None:
        """Flush and stop the thread; later puts are sent by `flush` calls only."""
        self._closed = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
        self.flush()

    def pending(self) -> int:
        return len(self._items)

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None or self._closed:
                return
            self._thread = threading.Thread(target=self._run, name=f"ductwork-{self._name}", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self._interval)
            self._wake.clear()
            self._drain()

    def _drain(self) -> None:
        with self._lock:
            while self._items:
                batch = self._take()
                self._send_with_retries(batch)

    def _take(self) -> list[T]:
        items, batch = self._items, []
        pop = items.popleft
        for _ in range(min(len(items), self._max_items * 5)):
            batch.append(pop())
        return batch

    def _send_with_retries(self, batch: list[T]) -> None:
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                self._send(batch)
                self._failing_since = None
                return
            except _FINAL as exc:
                self._report(exc, batch)
                return
            except _REFUSED as exc:
                self._failing_since = None  # the backend answered: it is there
                self._isolate(batch, exc)
                return
            except Exception as exc:
                attempt += 1
                if not self._may_retry(exc, attempt, started):
                    self._report(exc, batch)
                    return
                time.sleep(min(0.05 * 2 ** min(attempt, 10), _BACKOFF_MAX_S))

    def _may_retry(self, exc: Exception, attempt: int, started: float) -> bool:
        if not isinstance(exc, OSError | ConnectionError | TimeoutError):  # StorageError is an OSError
            return attempt < _RETRIES
        if self._failing_since is None:
            self._failing_since = started
        # One window per outage, not per batch: once it has passed, later batches fail at once
        # (exit is not held up for a window per batch), until a send succeeds again.
        return time.monotonic() - self._failing_since < settings.retry_window()

    def _isolate(self, batch: list[T], refusal: Exception) -> None:
        """Store every record of `batch` the backend accepts; set aside only those it refuses."""
        if len(batch) == 1:
            self._report(refusal, batch)
            return
        middle = len(batch) // 2
        for half in (batch[:middle], batch[middle:]):
            try:
                self._send(half)
            except _FINAL as exc:
                self._report(exc, half)
            except _REFUSED as exc:
                self._isolate(half, exc)
            except Exception:
                self._send_with_retries(half)  # any other failure: the usual retries and window

    def _report(self, exc: BaseException, batch: list[T]) -> None:
        count = len(batch)
        error = StorageError(f"ductwork: could not write {count} {self._name} record(s): {exc}")
        error.__cause__ = exc
        self._errors.append(error)
        if self._lost is not None:
            try:
                # counted on the tasks (and said on stderr there)
                self._lost_tasks.update(self._lost(batch, str(exc)))
                return
            except Exception:
                pass
        stream = self._error_stream() if self._error_stream else sys.__stderr__
        try:
            print(str(error), file=stream)  # type: ignore[call-overload]
        except Exception:
            pass

    def _raise_errors(self) -> None:
        if self._errors:
            errors, self._errors = self._errors, []
            told, self._lost_tasks = self._lost_tasks, set()
            for task_id in told:
                losses.raised(task_id)  # the caller is told: the loss is no longer silent
            raise errors[0]

    def _after_fork(self) -> None:
        # The parent's thread does not exist in a forked child; its items belong to the parent.
        self._thread = None
        self._items.clear()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._failing_since = None
        self._errors = []
        self._lost_tasks = set()


def flush_all() -> None:
    """Send what every live batcher holds (at exit). Errors are not raised (nobody is left to
    catch them): what they cost is on stderr and in `losses`, which sets the exit status."""
    for batcher in list(_all):
        try:
            batcher._drain()
        except Exception:
            pass


def _reset_after_fork() -> None:
    for batcher in list(_all):
        batcher._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
# Whatever was reported is written before the interpreter exits, with or without Task.init.
atexit.register(flush_all)
