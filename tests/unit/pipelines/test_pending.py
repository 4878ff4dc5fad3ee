"""`pending.Pending`: in-process steps' ends wait for the run's next write, and a write the store
refuses neither drops the other steps' ends nor passes silently (issue 15)."""

from __future__ import annotations

from typing import Any

import pytest

from ductwork.core.errors import Conflict, StorageError, ValidationError
from ductwork.pipelines.pending import Pending


class Backend:
    """Records the calls it takes; refuses the ones `refuse` names with the error given."""

    def __init__(self) -> None:
        self.made: list[tuple[str, tuple[Any, ...]]] = []
        self.refuse: dict[tuple[str, str], Exception] = {}
        self.status = "completed"

    def __getattr__(self, method: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> str:
            error = self.refuse.get((method, str(args[0])))
            if error is not None:
                raise error
            self.made.append((method, args))
            return f"{method} done"

        return call

    def batch(self, calls: list[Any]) -> list[Any]:
        """As `Store.batch`: in order, stopping at the first refused call (the ones before stay)."""
        return [getattr(self, method)(*args, **kwargs) for method, args, kwargs in calls]

    def get_task(self, task_id: str) -> Any:
        return type("Task", (), {"status": self.status})()


def end(task_id: str) -> list[Any]:
    return [("put_artifact", (task_id,), {}), ("set_status", (task_id, "completed"), {})]


def test_the_ends_go_first_and_the_extra_calls_answer() -> None:
    backend = Backend()
    pending = Pending(backend, print)
    pending.add(end("a"))
    assert pending.write([("create_task", ("b",), {})]) == ["create_task done"]
    assert [call[0] for call in backend.made] == ["put_artifact", "set_status", "create_task"]
    assert pending.write() == []  # nothing waits any more
    assert len(backend.made) == 3


def test_a_refused_end_is_logged_and_the_others_are_written() -> None:
    backend = Backend()
    logged: list[str] = []
    pending = Pending(backend, logged.append)
    backend.refuse[("put_artifact", "a")] = ValidationError("too big")
    pending.add(end("a"))
    pending.add(end("b"))
    assert pending.write([("put_nodes", ("run",), {})]) == ["put_nodes done"]
    assert ("set_status", ("b", "completed")) in backend.made
    assert ("put_nodes", ("run",)) in backend.made
    assert len(logged) == 1 and "too big" in logged[0]
    assert ("set_status", ("a", "failed")) in backend.made  # not left in progress


def test_an_end_aborted_from_outside_is_said() -> None:
    backend = Backend()
    logged: list[str] = []
    pending = Pending(backend, logged.append)
    backend.refuse[("set_status", "a")] = Conflict("task a is stopped")
    backend.status = "stopped"
    pending.add(end("a"))
    pending.write()
    assert logged == ["step task a ended stopped from outside; its results were kept"]


def test_an_end_the_store_cannot_take_waits_for_the_next_write() -> None:
    backend = Backend()
    pending = Pending(backend, print)
    backend.refuse[("put_artifact", "a")] = StorageError("disk full")
    pending.add(end("a"))
    with pytest.raises(StorageError):
        pending.write([("put_artifact", ("a",), {})])
    del backend.refuse[("put_artifact", "a")]
    pending.write()
    assert ("set_status", ("a", "completed")) in backend.made
