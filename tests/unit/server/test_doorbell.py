"""The work doorbell wakes as many waiting claims as there is new work, on the right queue."""

from __future__ import annotations

import asyncio

from ductwork.server.services.doorbell import Doorbell

# Long enough that a waiter still asleep is not woken by its own timeout while the test looks.
ASLEEP = 30.0


async def _waiters(bell: Doorbell, topics: list[tuple[str, ...]]) -> list[asyncio.Task[bool]]:
    seen = bell.generation
    waiting = [asyncio.create_task(bell.wait(seen, ASLEEP, t)) for t in topics]
    while len(bell._waiters) < len(waiting):  # all of them registered, in order
        await asyncio.sleep(0)
    return waiting


async def _settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


def test_a_counted_ring_wakes_that_many_oldest_first() -> None:
    async def scenario() -> None:
        bell = Doorbell()
        waiting = await _waiters(bell, [("a",), ("a",), ("a",)])
        bell.ring(1, "a")
        await _settle()
        assert [w.done() for w in waiting] == [True, False, False]
        bell.ring(5, "a")  # more work than waiters: all of them
        await _settle()
        assert all(w.done() and w.result() for w in waiting)

    asyncio.run(scenario())


def test_a_counted_ring_skips_waiters_on_other_queues() -> None:
    async def scenario() -> None:
        bell = Doorbell()
        waiting = await _waiters(bell, [("gpu",), ("cpu", "bench"), ()])
        bell.ring(1, "bench")
        await _settle()
        assert [w.done() for w in waiting] == [False, True, False]
        bell.ring(1, "other")  # only the waiter on any queue matches
        await _settle()
        assert [w.done() for w in waiting] == [False, True, True]
        bell.ring()  # uncounted (the watcher, shutdown): everyone
        await _settle()
        assert all(w.done() for w in waiting)

    asyncio.run(scenario())


def test_a_ring_before_waiting_is_not_lost() -> None:
    async def scenario() -> None:
        bell = Doorbell()
        seen = bell.generation
        bell.ring(1, "a")  # lands between "found nothing" and "started waiting"
        assert await bell.wait(seen, ASLEEP, ("b",))

    asyncio.run(scenario())


def test_a_woken_waiter_cancelled_passes_its_wake_on() -> None:
    async def scenario() -> None:
        bell = Doorbell()
        first, second = await _waiters(bell, [("a",), ("a",)])
        first.cancel()  # its caller went away: the cancellation lands after the ring chose it
        bell.ring(1, "a")
        await _settle()
        assert first.cancelled()
        assert second.done() and second.result()

    asyncio.run(scenario())


def test_an_unwoken_waiter_times_out_false() -> None:
    async def scenario() -> None:
        bell = Doorbell()
        assert not await bell.wait(bell.generation, 0.01, ("a",))
        assert not bell._waiters

    asyncio.run(scenario())
