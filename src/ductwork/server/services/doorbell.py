"""A doorbell: wakes coroutines waiting on it, rung from any thread.

Waiters remember the generation they last saw, so a ring that lands between "looked, found
nothing" and "started waiting" is not lost: `wait` returns at once when the generation moved.

A ring wakes every waiter, or only as many as there is new work for (`count`), oldest first,
among those waiting on the ring's `topic` (a queue name): one enqueue then costs one claim
transaction, not one per idle agent. A waiter woken by a counted ring that does not use its
wake (its caller hung up, its claim failed) passes it on with `ring()`; the server's change
watcher rings every waiter each time it sees a change, the safety net for anything missed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Collection


class Doorbell:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation = 0
        # Insertion-ordered: the longest waiting are woken first. Value: the topics waited on
        # (empty: any ring wakes it).
        self._waiters: dict[asyncio.Future[None], frozenset[str]] = {}

    @property
    def generation(self) -> int:
        return self._generation

    def ring(self, count: int | None = None, topic: str = "") -> None:
        """Wake every waiter, or at most `count` of those waiting on `topic` (thread-safe;
        callable from sync endpoints in the thread pool)."""
        with self._lock:
            self._generation += 1
            if count is None:
                woken, self._waiters = list(self._waiters), {}
            else:
                woken = []
                for future, topics in self._waiters.items():
                    if len(woken) >= count:
                        break
                    if not topics or not topic or topic in topics:
                        woken.append(future)
                for future in woken:
                    del self._waiters[future]
        for future in woken:
            future.get_loop().call_soon_threadsafe(_settle, future)

    async def wait(self, seen: int, timeout: float, topics: Collection[str] = ()) -> bool:
        """Wait until rung after generation `seen`, at most `timeout` seconds; True if rung.
        `topics`: the counted rings that may wake this waiter (empty: all of them)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._lock:
            if self._generation != seen:
                return True
            self._waiters[future] = frozenset(topics)
        try:
            await asyncio.wait_for(future, timeout)
            return True
        except asyncio.TimeoutError:
            return False
        except asyncio.CancelledError:
            with self._lock:
                chosen = future not in self._waiters  # a ring took it off the list to wake it
            if chosen:
                self.ring()  # woken, then cancelled before it could claim: pass the wake on
            raise
        finally:
            with self._lock:
                self._waiters.pop(future, None)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
