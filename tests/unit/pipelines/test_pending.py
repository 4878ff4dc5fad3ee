"""`pending.Pending`: in-process steps' starts and ends wait for the run's next write, and a write
the store refuses neither drops the other steps' writes nor passes silently (issue 15)."""

from __future__ import annotations

from typing import Any

import pytest

from ductwork.core.errors import Conflict, NotFound, StorageError, ValidationError
from ductwork.core.records import TaskRecord
from ductwork.pipelines.pending import HOLD_AT_MOST, Pending
from ductwork.store.held import HeldStart


class Backend:
    """Records the calls it takes; refuses the ones `refuse` names with the error given."""

    def __init__(self) -> None:
        self.made: list[tuple[str, tuple[Any, ...]]] = []
        self.refuse: dict[tuple[str, str], Exception] = {}
        self.status = "completed"

    def __getattr__(self, method: str) -> Any:
        if method == "before_use":  # a proxy answers any name: looked up on the class instead
            raise AssertionError("Pending asked the instance for before_use")

        def call(*args: Any, **kwargs: Any) -> str:
            error = self.refuse.get((method, str(args[0])))
            if error is not None:
                raise error
            self.made.append((method, args))
            return f"{method} done"

        return call

    def batch(self, calls: list[Any], whole: bool = False) -> list[Any]:
        """As `Store.batch`: in order, stopping at the first refused call (the ones before stay,
        unless `whole`)."""
        made = len(self.made)
        try:
            return [getattr(self, method)(*args, **kwargs) for method, args, kwargs in calls]
        except Exception:
            if whole:
                del self.made[made:]
            raise

    def get_task(self, task_id: str) -> Any:
        return type("Task", (), {"status": self.status})()


def end(task_id: str) -> list[Any]:
    return [("put_artifact", (task_id,), {}), ("set_status", (task_id, "completed"), {})]


def test_the_ends_go_first_and_the_extra_calls_answer() -> None:
    backend = Backend()
    pending = Pending(backend, print)
    pending.end("a", end("a"))
    assert pending.write([("create_task", ("b",), {})]) == ["create_task done"]
    assert [call[0] for call in backend.made] == ["put_artifact", "set_status", "create_task"]
    assert pending.write() == []  # nothing waits any more
    assert len(backend.made) == 3


def test_a_refused_end_is_logged_and_the_others_are_written() -> None:
    backend = Backend()
    logged: list[str] = []
    pending = Pending(backend, logged.append)
    backend.refuse[("put_artifact", "a")] = ValidationError("too big")
    pending.end("a", end("a"))
    pending.end("b", end("b"))
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
    pending.end("a", end("a"))
    pending.write()
    assert logged == ["step task a ended stopped from outside; its results were kept"]


def test_an_end_the_store_cannot_take_waits_for_the_next_write() -> None:
    backend = Backend()
    pending = Pending(backend, print)
    backend.refuse[("put_artifact", "a")] = StorageError("disk full")
    pending.end("a", end("a"))
    with pytest.raises(StorageError):
        pending.write([("put_artifact", ("a",), {})])
    del backend.refuse[("put_artifact", "a")]
    pending.write()
    assert ("set_status", ("a", "completed")) in backend.made


class HookedBackend(Backend):
    """A transport that calls its hooks before each use, as `Store.before_use` does."""

    def __init__(self) -> None:
        super().__init__()
        self.hooks: list[Any] = []
        self.checked: list[str] = []

    def before_use(self, hook: Any) -> Any:
        self.hooks.append(hook)
        return lambda: self.hooks.remove(hook)

    def _bulk(self, method: str, one: str, ids: list[str], args: tuple[Any, ...]) -> None:
        """A bulk write: refused as a whole when one of its tasks' `one` calls would be."""
        for task_id in ids:
            error = self.refuse.get((one, task_id))
            if error is not None:
                raise error
        self.made.append((method, args))

    def batch_held(self, starts: list[HeldStart], calls: list[Any]) -> list[Any]:
        """As `Store.batch_held`: the held starts (refused as a whole when one of their tasks'
        `create_task` or `set_parameters` would be), then the calls, all or nothing."""
        made = len(self.made)
        try:
            ids = [start.task_id for start in starts]
            self._bulk("write_starts", "create_task", ids, (starts,))
            self.made.pop()
            self._bulk("write_starts", "set_parameters", ids, (starts,))
            return self.batch(calls, whole=True)
        except Exception:
            del self.made[made:]
            raise

    def set_parameters_of(self, by_task: dict[str, Any]) -> None:
        self._bulk("set_parameters_of", "set_parameters", list(by_task), (by_task,))

    def put_artifacts(self, records: list[Any]) -> None:
        self._bulk("put_artifacts", "put_artifact", list(records), (records,))

    def hold_start(self, record: TaskRecord, params: dict[str, Any]) -> HeldStart:
        if record.id == "bad":
            raise ValidationError("task bad: name must be a string")
        self.checked.append(record.id)
        row = {"id": record.id, "status": record.status, "started": record.started, "ended": record.ended}
        return HeldStart(record.id, row, [{"name": key} for key in params])


def start(task_id: str) -> list[Any]:
    record = TaskRecord(id=task_id, name=task_id, status="in_progress", started=1.0)
    return [("create_task", (record,), {}), ("set_parameters", (task_id, {}), {})]


def test_a_start_waits_when_the_store_writes_it_before_any_use() -> None:
    backend = HookedBackend()
    pending = Pending(backend, print)
    record = pending.start(start("a"))
    assert record.id == "a" and backend.made == []  # checked, held, not written
    assert backend.checked == ["a"]
    pending.end("a", end("a"))
    pending.start(start("b"))
    for hook in backend.hooks:  # someone uses the store: what is held goes first
        hook()
    # in bulk: the tasks with their parameters as checked, then their artifacts; a step that
    # started and ended in one window is created as it ended, without the update that would
    # complete it
    assert [call[0] for call in backend.made] == ["write_starts", "put_artifacts"]
    a, b = backend.made[0][1][0]
    assert (a.task["status"], b.task["status"]) == ("completed", "in_progress")
    assert a.task["ended"] >= a.task["started"]
    pending.end("b", end("b"))  # b ends in the next window: completed by its update
    pending.write()
    assert backend.made[-1] == ("set_status", ("b", "completed"))
    pending.close()
    assert backend.hooks == []


def test_a_start_is_written_at_once_where_the_store_has_no_hook() -> None:
    backend = Backend()
    pending = Pending(backend, print)
    assert pending.start(start("a")) == "create_task done"
    assert [call[0] for call in backend.made] == ["create_task", "set_parameters"]


def test_bad_input_fails_the_start_before_anything_is_held() -> None:
    backend = HookedBackend()
    pending = Pending(backend, print)
    with pytest.raises(ValidationError, match="name must be a string"):
        pending.start(start("bad"))
    pending.write()
    assert backend.made == []


def test_a_start_refused_at_the_commit_is_said_and_its_end_dropped() -> None:
    backend = HookedBackend()
    logged: list[str] = []
    pending = Pending(backend, logged.append)
    pending.start(start("b"))
    pending.start(start("a"))
    backend.refuse = {("set_parameters", "a"): NotFound("project gone")}
    pending.end("a", end("a"))
    pending.end("b", end("b"))
    pending.write()
    created = {
        held.task_id: held.task["status"]
        for m, args in backend.made
        if m == "write_starts"
        for held in args[0]
    }
    assert created == {"b": "completed"}  # the other step is recorded, as it ended
    assert ("put_artifact", ("b",)) in backend.made and ("put_artifact", ("a",)) not in backend.made
    assert ("set_status", ("a", "failed")) in backend.made  # made, but not left in progress
    assert any(
        "step task a: its start (its task and parameters) could not be recorded: NotFound: project gone"
        in line
        for line in logged
    )
    assert any("end of step task a was dropped: its start was not recorded" in line for line in logged)


def test_the_thread_that_fills_the_hold_writes_it() -> None:
    # A writer that falls behind (a long commit, a collection) must not let held steps pile up:
    # the step that fills the hold writes what is held, in its own thread.
    backend = HookedBackend()
    pending = Pending(backend, print)
    steps = HOLD_AT_MOST // 2
    for i in range(steps):
        pending.start(start(f"t{i}"))
        pending.end(f"t{i}", end(f"t{i}"))
    created = [held.task_id for method, args in backend.made if method == "write_starts" for held in args[0]]
    assert created == [f"t{i}" for i in range(steps)]  # no hook ran: the last end wrote them
    made = len(backend.made)
    pending.start(start("next"))  # and holding goes on after
    assert len(backend.made) == made
    pending.close()
    assert backend.made[made][0] == "write_starts" and backend.made[made][1][0][0].task_id == "next"


def test_a_start_whose_commit_answer_was_lost_is_taken_as_written() -> None:
    # The commit happened but its answer did not come back (StorageError): the next write finds
    # the task made (Conflict: its id exists) and goes on with the step's end.
    backend = HookedBackend()
    logged: list[str] = []
    pending = Pending(backend, logged.append)
    pending.start(start("a"))
    backend.refuse = {("create_task", "a"): StorageError("connection lost at the commit")}
    pending.write()
    assert backend.made == []  # kept for the next write
    backend.refuse = {("create_task", "a"): Conflict("one of 1 new tasks has an id that already exists")}
    pending.end("a", end("a"))
    pending.write()
    assert ("put_artifact", ("a",)) in backend.made and logged == []
    assert backend.made[-1] == ("set_status", ("a", "completed"))  # not left in progress
