"""A claimer's first claim carries the slot's last run's end: inside the claim's own transaction
where the backend's `claim` takes `end` (the store), else recorded on its own just before."""

from __future__ import annotations

from typing import Any

from ductwork.agent.wakeup import RunEnd, TickClaimer
from ductwork.core.records import ConsoleLine, TaskRecord


class Together:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def claim(self, queues: list[str], worker: str, *, end: dict[str, Any] | None = None) -> TaskRecord:
        self.calls.append(("claim", end))
        return TaskRecord(name="next")


class Apart:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def end_claim(self, **said: Any) -> None:
        self.calls.append(("end_claim", said))

    def claim(self, queues: list[str], worker: str) -> TaskRecord:
        self.calls.append(("claim", None))
        return TaskRecord(name="next")


def test_the_end_goes_inside_the_claim_where_the_backend_takes_it() -> None:
    import threading

    run = TaskRecord(name="last", worker="w", started=1.0)
    end = RunEnd(run, "completed", console=[ConsoleLine(run.id, "bye")])
    together, apart = Together(), Apart()
    for backend in (together, apart):
        claimer = TickClaimer(backend)
        assert claimer.takes_ends
        assert claimer.claim(["q"], "w", threading.Event(), end) is not None
        assert claimer.claim(["q"], "w", threading.Event()) is not None  # no end: a plain claim
    assert together.calls == [("claim", end.said()), ("claim", None)]
    assert apart.calls == [("end_claim", end.said()), ("claim", None), ("claim", None)]
