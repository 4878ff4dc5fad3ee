"""The pipe transport a local-mode step reports over: the server greets each connection with the
methods it serves (no round trip of its own), a batch makes its calls in order in one round
trip and stops at the first failure, which is raised as the error it was."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from ductwork.client.pipe import PipeBackend, PipeServer
from ductwork.core.errors import DuctworkError, NotFound
from ductwork.core.records import Param


class Recording:
    """A backend that records its calls (and refuses one task)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def get_parameters(self, task_id: str) -> dict[str, Param]:
        self.calls.append(("get_parameters", task_id))
        if task_id == "missing":
            raise NotFound(f"task {task_id} not found")
        return {"kwargs/x": Param(value=1, type="int")}

    def set_parameters(self, task_id: str, params: dict[str, Param], *, replace: bool = False) -> None:
        self.calls.append(("set_parameters", (task_id, params, replace)))

    def close(self) -> None:
        pass


@pytest.fixture
def served() -> Iterator[tuple[Recording, PipeServer]]:
    backend = Recording()
    server = PipeServer(backend)  # type: ignore[arg-type]
    yield backend, server
    server.close()


def test_the_greeting_says_what_is_served(served: tuple[Recording, PipeServer]) -> None:
    _, server = served
    pipe = PipeBackend(server.address)
    try:
        assert {"get_parameters", "set_parameters", "close"} <= pipe.methods
        assert getattr(pipe, "get_task", None) is None  # a probe for what is not served
        assert pipe.get_parameters("t1")["kwargs/x"] == Param(value=1, type="int")
    finally:
        pipe.close()


def test_a_batch_makes_its_calls_in_order(served: tuple[Recording, PipeServer]) -> None:
    backend, server = served
    pipe = PipeBackend(server.address)
    try:
        params = {"return/y": Param(value=2, type="int")}
        results = pipe.batch(
            [("set_parameters", ("t1", params), {"replace": True}), ("get_parameters", ("t1",), {})]
        )
        assert results == [None, {"kwargs/x": Param(value=1, type="int")}]
        assert backend.calls == [("set_parameters", ("t1", params, True)), ("get_parameters", "t1")]
    finally:
        pipe.close()


def test_a_batch_stops_at_the_first_failure(served: tuple[Recording, PipeServer]) -> None:
    backend, server = served
    pipe = PipeBackend(server.address)
    try:
        with pytest.raises(NotFound, match="task missing not found"):
            pipe.batch(
                [
                    ("get_parameters", ("missing",), {}),
                    ("set_parameters", ("t1", {}), {}),
                ]
            )
        assert backend.calls == [("get_parameters", "missing")]
        with pytest.raises(DuctworkError, match="no method '_close'"):
            pipe.batch([("_close", (), {})])
        assert pipe.get_parameters("t2")  # the connection goes on
    finally:
        pipe.close()


def test_threads_share_one_pipe(served: tuple[Recording, PipeServer]) -> None:
    backend, server = served
    pipe = PipeBackend(server.address)
    failures: list[BaseException] = []

    def calls(task_id: str) -> None:
        try:
            for _ in range(20):
                assert pipe.batch([("get_parameters", (task_id,), {})] * 2)[1]["kwargs/x"].value == 1
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=calls, args=(f"t{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pipe.close()
    assert failures == [] and len(backend.calls) == 160


def test_a_step_cannot_close_or_hook_the_controllers_store(tmp_path: Any) -> None:
    from ductwork.store import Store

    store = Store(f"sqlite:///{tmp_path / 'ductwork.db'}")
    server = PipeServer(store)  # type: ignore[arg-type]
    pipe = PipeBackend(server.address)
    try:
        assert "create_task" in pipe.methods
        assert not {"close", "before_use", "release_reserve", "hold_start", "batch_held"} & pipe.methods
        with pytest.raises(DuctworkError, match="no method 'before_use'"):
            pipe._round_trip({"m": "before_use", "a": [], "k": {}})
        with pytest.raises(DuctworkError, match="no method 'close'"):
            pipe.batch([("close", (), {})])
        # rows written without checking again: only this process's own held starts may be
        forged = {"task_id": "f" * 32, "task": {"id": "f" * 32, "name": "a\x00b"}, "params": []}
        with pytest.raises(DuctworkError, match="no method 'batch_held'"):
            pipe._round_trip({"m": "batch_held", "a": [[forged], []], "k": {}})
        with pytest.raises(DuctworkError, match="no method 'batch_held'"):
            pipe.batch([("batch_held", ([forged], []), {})])
        assert not store.closed and store.list_projects() == []  # still open, no hook to trip on
    finally:
        pipe.close()
        server.close()
        store.close()
