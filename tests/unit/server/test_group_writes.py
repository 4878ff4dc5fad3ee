"""services/writes.GroupWriter: concurrent writes share one store call, each keeps its own answer."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from ductwork.core.errors import Forbidden, ValidationError
from ductwork.server.services.writes import GroupWriter


class Store:
    def __init__(self) -> None:
        self.calls: list[list[int]] = []
        self.release = threading.Event()

    def write(self, rows: Sequence[int]) -> None:
        self.release.wait(5)  # the first commit is slow: the others queue meanwhile
        if any(r < 0 for r in rows):
            raise ValidationError(f"negative row in {list(rows)}")
        self.calls.append(list(rows))


def allowed() -> None:
    pass


def refused() -> None:
    raise Forbidden("not yours")


async def _run(
    store: Store, requests: list[tuple[list[int], object]]
) -> tuple[list[BaseException | None], int]:
    writer = GroupWriter(store.write)
    first = asyncio.ensure_future(writer.submit([0], allowed))
    await asyncio.sleep(0.05)  # the first write is in flight, holding its commit
    rest = [asyncio.ensure_future(writer.submit(rows, check)) for rows, check in requests]  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    store.release.set()
    answers = await asyncio.gather(first, *rest, return_exceptions=True)
    return [a if isinstance(a, BaseException) else None for a in answers[1:]], writer.merged


def test_requests_queued_during_a_commit_share_the_next_one() -> None:
    store = Store()
    answers, merged = asyncio.run(_run(store, [([1, 2], allowed), ([3], allowed), ([4, 5], allowed)]))
    assert answers == [None, None, None] and merged == 2
    assert store.calls == [[0], [1, 2, 3, 4, 5]]  # two commits for four requests


def test_a_refused_or_bad_request_fails_alone() -> None:
    store = Store()
    answers, _ = asyncio.run(_run(store, [([1], allowed), ([2], refused), ([-3], allowed), ([4], allowed)]))
    assert answers[0] is None and answers[3] is None
    assert isinstance(answers[1], Forbidden)
    assert isinstance(answers[2], ValidationError)
    # The merged write failed on -3, then each request was written alone: -3's rows nowhere.
    assert store.calls == [[0], [1], [4]]


def test_rows_of_one_merged_write_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from ductwork.server.services import writes

    monkeypatch.setattr(writes, "MAX_ROWS", 3)
    store = Store()
    answers, merged = asyncio.run(_run(store, [([1, 2], allowed), ([3, 4], allowed)]))
    assert answers == [None, None] and merged == 0
    assert store.calls == [[0], [1, 2], [3, 4]]
