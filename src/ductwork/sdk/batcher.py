"""Batched background writes: callers append in microseconds, one thread sends in bulk.

Metrics and console lines go through a `Batcher`: `put` appends to a deque (no lock, no
backend call); a daemon thread wakes every `interval` seconds, or as soon as `max_items` are
waiting, and hands everything waiting to `send` in one call. A failed send is retried, then
reported on the original stderr and raised by the next `flush`, so no error is silently lost.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from ductwork.core.errors import StorageError

T = TypeVar("T")

_RETRIES = 3
_all: weakref.WeakSet[Batcher[object]] = weakref.WeakSet()


class Batcher(Generic[T]):
    def __init__(
        self,
        send: Callable[[list[T]], None],
        *,
        name: str,
        interval: float = 0.5,
        max_items: int = 20_000,
        error_stream: Callable[[], object] | None = None,
    ) -> None:
        self._send = send
        self._name = name
        self._interval = interval
        self._max_items = max_items
        self._error_stream = error_stream
        self._items: deque[T] = deque()
        self._wake = threading.Event()
        self._lock = threading.Lock()  # one drain at a time (the thread or a flushing caller)
        self._thread: threading.Thread | None = None
        self._errors: list[BaseException] = []
        self._closed = False
        _all.add(self)  # type: ignore[arg-type]

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
        for attempt in range(_RETRIES):
            try:
                self._send(batch)
                return
            except Exception as exc:
                if attempt == _RETRIES - 1:
                    self._report(exc, len(batch))
                    return
                time.sleep(0.05 * 2**attempt)

    def _report(self, exc: BaseException, count: int) -> None:
        error = StorageError(f"ductwork: could not write {count} {self._name} record(s): {exc}")
        error.__cause__ = exc
        self._errors.append(error)
        stream = self._error_stream() if self._error_stream else sys.__stderr__
        try:
            print(str(error), file=stream)  # type: ignore[call-overload]
        except Exception:
            pass

    def _raise_errors(self) -> None:
        if self._errors:
            errors, self._errors = self._errors, []
            raise errors[0]

    def _after_fork(self) -> None:
        # The parent's thread does not exist in a forked child; its items belong to the parent.
        self._thread = None
        self._items.clear()
        self._lock = threading.Lock()
        self._wake = threading.Event()


def flush_all() -> None:
    """Flush every live batcher (at exit); errors were already reported on stderr."""
    for batcher in list(_all):
        try:
            batcher.flush()
        except Exception:
            pass


def _reset_after_fork() -> None:
    for batcher in list(_all):
        batcher._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
# Whatever was reported is written before the interpreter exits, with or without Task.init.
atexit.register(flush_all)
