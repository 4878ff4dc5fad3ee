"""Writes held back by a writer of this process (a debug run's steps, `pipelines.pending`): the
store calls `before_use` hooks before any other use, so no one here reads without them, and
`Store.hold_start` refuses bad input before anything is held; what it held is written as
checked (`Store.batch_held`), and only what it held (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from ductwork.core.errors import Conflict, NotFound, StatusError, ValidationError
from ductwork.core.queries import TaskQuery
from ductwork.core.records import ArtifactRecord, Param, TaskRecord
from ductwork.pipelines.pending import Pending
from ductwork.store import Store
from ductwork.store.held import HeldStart


def test_hooks_run_before_each_use_but_not_inside_a_batch_or_themselves(store: Store) -> None:
    calls: list[str] = []

    def hook() -> None:
        calls.append("hook")
        store.get_task(task.id)  # a hook's own use of the store does not call it again

    task = store.create_task(TaskRecord(name="t"))
    remove = store.before_use(hook)
    store.get_task(task.id)
    store.edit_task(task.id, {"comment": "c"})
    assert calls == ["hook", "hook"]
    store.batch([("get_task", (task.id,), {}), ("edit_task", (task.id, {"comment": "d"}), {})])
    assert calls == ["hook"] * 3  # once for the batch, not for each call in it
    seen: list[str] = []
    worker = threading.Thread(target=lambda: seen.append(store.get_task(task.id).comment))
    worker.start()
    worker.join()
    assert seen == ["d"] and calls == ["hook"] * 4  # any thread
    remove()
    store.get_task(task.id)
    assert calls == ["hook"] * 4


@pytest.mark.parametrize(
    "record, params, named",
    [
        (TaskRecord(name="a\x00b"), {}, "name"),
        (TaskRecord(name="t", progress=2**70), {}, "progress"),
        (TaskRecord(name="t", status="no such"), {}, "unknown status"),
        (TaskRecord(name="t", tags=["\x00"]), {}, "tags"),
        (TaskRecord(name="t"), {"Args/x": Param("a\x00")}, "Args/x"),
        (TaskRecord(name="t"), {"Args/x": 3}, "must be a Param"),
        (TaskRecord(name="t"), {"/x": Param(1)}, "Section/name"),
    ],
)
def test_hold_start_names_what_the_store_would_refuse_and_writes_nothing(
    store: Store, record: TaskRecord, params: dict[str, Any], named: str
) -> None:
    with pytest.raises(ValidationError, match=named):
        store.hold_start(record, params)
    assert store.query_tasks(TaskQuery(archived=None)) == []


def test_a_held_start_is_committed_before_any_use_here_and_seen_elsewhere_after(store: Store) -> None:
    logged: list[str] = []
    pending = Pending(store, logged.append)
    task = TaskRecord(name="held", status="in_progress")
    assert (
        pending.start(
            [("create_task", (task,), {}), ("set_parameters", (task.id, {"Args/x": Param(1, "int")}), {})]
        )
        is task
    )
    other = Store(store.url, migrate_schema=False)  # another process on the same database
    try:
        with pytest.raises(NotFound):
            other.get_task(task.id)  # held: not written yet
        seen: list[str] = []
        worker = threading.Thread(target=lambda: seen.append(store.get_task(task.id).name))
        worker.start()  # a use from any thread of this process writes what is held first
        worker.join()
        assert seen == ["held"]
        assert other.get_parameters(task.id) == {"Args/x": Param(1, "int")}
        pending.close()
        later = TaskRecord(name="after close", status="in_progress")
        pending.start([("create_task", (later,), {})])  # no hook any more: written at once
        assert other.get_task(later.id).name == "after close"
    finally:
        other.close()
    assert logged == []


def test_held_starts_and_bulk_writes_make_what_the_single_calls_make(store: Store) -> None:
    project = store.ensure_project("bulk")
    tasks = [TaskRecord(name=f"t{i}", project=project.id, status="in_progress") for i in range(3)]
    starts = [store.hold_start(t, {"Args/i": Param(i, "int")}) for i, t in enumerate(tasks)]
    starts[2] = starts[2].completed(ended=123.0)  # a step that ended in the same window
    assert store.batch_held(
        starts, [("set_parameters_of", ({tasks[0].id: {"Args/j": Param("x")}},), {})]
    ) == [None]
    store.put_artifacts([ArtifactRecord(task_id=t.id, name="v", type="int", inline="1") for t in tasks])
    assert [store.get_task(t.id).status for t in tasks] == ["in_progress", "in_progress", "completed"]
    assert store.get_task(tasks[0].id).started is not None  # filled in as by create_task
    assert store.get_task(tasks[2].id).ended == 123.0
    assert store.get_parameters(tasks[0].id) == {"Args/i": Param(0, "int"), "Args/j": Param("x")}
    assert [a.name for t in tasks for a in store.get_artifacts(t.id)] == ["v"] * 3


def test_bulk_writes_refuse_whole_and_name_the_bad_value(store: Store) -> None:
    good = TaskRecord(name="good")
    held = store.hold_start(good, {})
    with pytest.raises(ValidationError, match="Args/x"):  # a call after the starts: all undone
        store.batch_held([held], [("set_parameters_of", ({good.id: {"Args/x": Param("a\x00")}},), {})])
    with pytest.raises(NotFound):
        store.get_task(good.id)  # nothing of a refused bulk write is kept
    store.batch_held([held], [])
    with pytest.raises(Conflict, match="already exists"):
        store.batch_held([store.hold_start(TaskRecord(name="new"), {}), held], [])
    with pytest.raises(NotFound, match="project"):
        store.batch_held([store.hold_start(TaskRecord(name="lost", project="no-such-project"), {})], [])
    forged = HeldStart("f" * 32, {**held.task, "id": "f" * 32, "name": "a\x00b"}, [])
    with pytest.raises(ValidationError, match="only the starts hold_start made"):
        store.batch_held([type("Forged", (), vars(forged).copy())()], [])  # type: ignore[list-item]
    with pytest.raises(NotFound):
        store.set_parameters_of({good.id: {"Args/x": Param(1)}, "no-such-task": {"Args/x": Param(1)}})
    fresh = store.hold_start(TaskRecord(name="fresh"), {})  # its own results touch nothing, others' do
    lost = (
        "put_artifacts",
        ([ArtifactRecord(task_id="no-such-task", name="v", type="int", inline="1")],),
        {},
    )
    with pytest.raises(NotFound, match="no-such-task"):
        store.batch_held([fresh], [lost])
    with pytest.raises(ValidationError, match="Args/x"):
        store.set_parameters_of({good.id: {"Args/x": Param("a\x00")}})
    with pytest.raises(NotFound):
        store.put_artifacts([ArtifactRecord(task_id="no-such-task", name="v", type="int", inline="1")])
    store.set_status(good.id, "published", force=True)
    with pytest.raises(StatusError):
        store.put_artifacts([ArtifactRecord(task_id=good.id, name="v", type="int", inline="1")])
    assert store.get_parameters(good.id) == {} and store.get_artifacts(good.id) == []
    assert [t.name for t in store.query_tasks(TaskQuery(archived=None))] == ["good"]


def test_two_runs_holding_writes_on_one_store_never_wait_for_each_other(store: Store) -> None:
    """Each run's batch, as it is written, calls the store's hooks, the other run's among them:
    a batch being written must not wait for another run's (which may be waiting for it)."""
    project = store.ensure_project("two runs")
    runs = [Pending(store, print), Pending(store, print)]
    failures: list[BaseException] = []

    def steps(pending: Pending) -> None:
        try:
            for _ in range(150):
                task = TaskRecord(name="step", project=project.id, status="in_progress")
                pending.start([("create_task", (task,), {})])
                pending.write([("get_task", (task.id,), {})])  # its batch, then a read of it
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=steps, args=(pending,), daemon=True) for pending in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads), "the two runs' writes deadlocked"
    assert failures == []
    for pending in runs:
        pending.close()
    assert len(store.query_tasks(TaskQuery(project=project.id, archived=None))) == 300


def _deep(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"d": value}
    return value


# Values at the edges of the checks a held start makes through the JSON text (store.bounds):
# all plain, so each must be written, and read back, as create_task writes it.
EDGES: dict[str, Any] = {
    "deep": _deep(63),  # the runtime dict is the 64th level
    "escaped": "a \\u0000 that is not a NUL",
    "brackets": "[{" * 100,
    "keys": {1: "int", 2.5: "float", None: "none", False: "bool"},
    "nan": float("nan"),
    "huge": 2**200,
    "tuple": ("a", ("b",)),
}


def test_a_held_start_writes_what_create_task_writes_at_the_edges_of_the_checks(store: Store) -> None:
    runtime = dict(EDGES)
    if store.dialect == "postgresql":
        del runtime["nan"]  # jsonb has no NaN: refused below
    script = {"code": "def f(x):\n    return {'a': [x]}\n" * 40}
    params = {
        "Args/deep": Param(_deep(64)),
        "Args/escaped": Param(EDGES["escaped"]),
        "Args/nan": Param(EDGES["nan"]),
    }
    made = store.create_task(TaskRecord(name="made", runtime=runtime, script=script))
    store.set_parameters(made.id, params)
    held = TaskRecord(name="held", runtime=runtime, script=script)
    store.batch_held([store.hold_start(held, params)], [])
    for name in ("runtime", "script"):
        assert getattr(store.get_task(held.id), name) == getattr(store.get_task(made.id), name)
    assert repr(store.get_parameters(held.id)) == repr(store.get_parameters(made.id))  # NaN != NaN
    too_deep = {"deep": _deep(64)}
    for bad, named in ((too_deep, "nests deeper"), ({"k": {"x\x00": 1}}, "NUL")):
        with pytest.raises(ValidationError, match=named):
            store.hold_start(TaskRecord(name="bad", runtime=bad), {})
    if store.dialect == "postgresql":
        with pytest.raises(ValidationError, match="finite"):
            store.hold_start(TaskRecord(name="nan", runtime={"x": [float("nan")]}), {})
    else:
        store.hold_start(TaskRecord(name="nan", runtime={"x": [float("nan")]}), {})
