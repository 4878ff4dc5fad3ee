"""A doorbell: wakes every coroutine waiting on it, rung from any thread.

Waiters remember the generation they last saw, so a ring that lands between "looked, found
nothing" and "started waiting" is not lost: `wait` returns at once when the generation moved.
"""

from __future__ import annotations

import asyncio
import threading


class Doorbell:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation = 0
        self._waiters: set[asyncio.Future[None]] = set()

    @property
    def generation(self) -> int:
        return self._generation

    def ring(self) -> None:
        """Wake every waiter (thread-safe; callable from sync endpoints in the thread pool)."""
        with self._lock:
            self._generation += 1
            waiters, self._waiters = self._waiters, set()
        for future in waiters:
            future.get_loop().call_soon_threadsafe(_settle, future)

    async def wait(self, seen: int, timeout: float) -> bool:
        """Wait until rung after generation `seen`, at most `timeout` seconds; True if rung."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        with self._lock:
            if self._generation != seen:
                return True
            self._waiters.add(future)
        try:
            await asyncio.wait_for(future, timeout)
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            with self._lock:
                self._waiters.discard(future)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
