"""Tasks through the Store: create, read, query, edit, status, reset, clone, delete, cache."""

from __future__ import annotations

import time

import pytest

from ductwork.core.errors import Conflict, NotFound, StatusError, ValidationError
from ductwork.core.queries import EventQuery, TaskQuery
from ductwork.core.records import (
    ArtifactRecord,
    ConfigObject,
    ConsoleLine,
    MetricEvent,
    ModelRecord,
    NodeState,
    Param,
    TaskModel,
    TaskRecord,
)
from ductwork.store import Store


def test_create_and_get_round_trip_every_field(store: Store) -> None:
    project = store.ensure_project("team/etl")
    task = TaskRecord(
        name="train",
        project=project.id,
        type="data_processing",
        parent="f" * 32,
        tags=["a", "b"],
        system_tags=["pipeline"],
        comment="hello",
        user="ann",
        script={"entry_point": "main.py", "diff": "+x"},
        requirements={"pip": "numpy\npandas"},
        container={"image": "python:3.11"},
        runtime={"cache_key": "abc", "nested": {"x": [1, 2]}},
        output_uri="s3://bucket/x",
        progress=5,
    )
    created = store.create_task(task)
    got = store.get_task(task.id)
    assert got == created
    assert got.runtime == {"cache_key": "abc", "nested": {"x": [1, 2]}}
    assert got.tags == ["a", "b"] and got.archived is False and got.started is None
    assert store.get_tasks([task.id]) == [got]


def test_unknown_ids_raise_not_found_naming_the_id(store: Store) -> None:
    missing = "0" * 32
    for call in (
        lambda: store.get_task(missing),
        lambda: store.set_status(missing, "in_progress"),
        lambda: store.edit_task(missing, {"name": "x"}),
        lambda: store.reset_task(missing),
        lambda: store.delete_task(missing),
        lambda: store.clone_task(missing),
        lambda: store.get_parameters(missing),
        lambda: store.set_parameters(missing, {"A/b": Param(1)}),
        lambda: store.get_configurations(missing),
        lambda: store.get_artifacts(missing),
        lambda: store.put_artifact(ArtifactRecord(missing, "a")),
        lambda: store.get_task_models(missing),
        lambda: store.add_events([MetricEvent(missing, "scalar", "t", "s", 0, 1.0)]),
        lambda: store.get_events(EventQuery(missing)),
        lambda: store.add_console([ConsoleLine(missing, "x")]),
        lambda: store.get_console(missing),
        lambda: store.get_nodes(missing),
        lambda: store.put_nodes([NodeState(missing, "step")]),
    ):
        with pytest.raises(NotFound, match=missing):
            call()
    with pytest.raises(NotFound, match=missing):
        store.get_tasks([store.create_task(TaskRecord(name="ok")).id, missing])
    with pytest.raises(NotFound, match="project"):
        store.create_task(TaskRecord(name="x", project="1" * 32))


def test_create_rejects_bad_input(store: Store) -> None:
    with pytest.raises(ValidationError, match="status"):
        store.create_task(TaskRecord(status="running"))
    with pytest.raises(ValidationError, match="task type"):
        store.create_task(TaskRecord(type="nonsense"))
    with pytest.raises(ValidationError, match="tags"):
        store.create_task(TaskRecord(tags="a,b"))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="script"):
        store.create_task(TaskRecord(script=["x"]))  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="cache_key"):
        store.create_task(TaskRecord(runtime={"cache_key": 5}))
    task = store.create_task(TaskRecord(name="once"))
    with pytest.raises(Conflict, match=task.id):
        store.create_task(TaskRecord(id=task.id))
    with pytest.raises(StatusError, match="enqueue"):
        store.create_task(TaskRecord(status="queued"))
    with pytest.raises(ValidationError, match="task id"):
        store.create_task(TaskRecord(id="x" * 33))
    # Both stores refuse what a column cannot hold, naming the field (SQLite would not enforce it).
    with pytest.raises(ValidationError, match="name is too long"):
        store.create_task(TaskRecord(name="n" * 600))


def test_create_in_a_running_or_final_status_gets_its_times(store: Store) -> None:
    running = store.create_task(TaskRecord(name="r", status="in_progress"))
    assert running.started is not None and running.ended is None
    done = store.create_task(TaskRecord(name="d", status="completed", started=1.0))
    assert done.started == 1.0 and done.ended is not None
    assert store.get_task(done.id) == done


def test_status_lifecycle_sets_timestamps(store: Store) -> None:
    task = store.create_task(TaskRecord(name="t"))
    running = store.set_status(task.id, "in_progress", message="go")
    assert running.status == "in_progress" and running.started is not None and running.ended is None
    assert running.status_message == "go"
    done = store.set_status(task.id, "completed", reason="finished")
    assert done.ended is not None and done.ended >= running.started
    assert done.status_reason == "finished" and done.updated >= running.updated
    published = store.set_status(task.id, "published")
    assert published.ended == done.ended  # a final -> final move keeps the end time


def test_illegal_transitions_raise(store: Store) -> None:
    task = store.create_task(TaskRecord(name="t"))
    store.set_status(task.id, "in_progress")
    store.set_status(task.id, "completed")
    with pytest.raises(StatusError, match="completed -> in_progress"):
        store.set_status(task.id, "in_progress")
    assert store.get_task(task.id).status == "completed"  # unchanged
    store.set_status(task.id, "in_progress", force=True)
    store.set_status(task.id, "completed")
    store.set_status(task.id, "published")
    with pytest.raises(StatusError, match="published"):
        store.set_status(task.id, "created", force=True)
    with pytest.raises(ValidationError, match="unknown status"):
        store.set_status(task.id, "bogus")


def test_expect_gives_conflict(store: Store) -> None:
    task = store.create_task(TaskRecord(name="t"))
    with pytest.raises(Conflict, match="created"):
        store.set_status(task.id, "stopped", expect=["in_progress"])
    assert store.set_status(task.id, "in_progress", expect=["created"]).status == "in_progress"


def test_edit_task(store: Store) -> None:
    task = store.create_task(TaskRecord(name="t"))
    edited = store.edit_task(task.id, {"name": "u", "tags": ["x"], "runtime": {"cache_key": "k", "n": 1}})
    assert edited.name == "u" and edited.tags == ["x"] and edited.runtime["n"] == 1
    assert store.find_cached("k") is None  # not completed yet
    with pytest.raises(ValidationError, match="status goes through set_status"):
        store.edit_task(task.id, {"status": "completed"})
    with pytest.raises(ValidationError, match="bogus"):
        store.edit_task(task.id, {"bogus": 1})
    with pytest.raises(ValidationError, match="progress"):
        store.edit_task(task.id, {"progress": "half"})
    with pytest.raises(NotFound, match="project"):
        store.edit_task(task.id, {"project": "2" * 32})
    store.set_status(task.id, "completed")
    store.set_status(task.id, "published")
    with pytest.raises(StatusError, match="read-only"):
        store.edit_task(task.id, {"script": {"code": "x"}})
    assert store.edit_task(task.id, {"tags": ["keep"], "archived": True}).archived is True


def test_published_task_refuses_new_outputs(store: Store) -> None:
    task = store.create_task(TaskRecord(name="t", status="completed"))
    store.set_status(task.id, "published")
    with pytest.raises(StatusError, match="read-only"):
        store.set_parameters(task.id, {"A/b": Param(1)})
    with pytest.raises(StatusError, match="read-only"):
        store.put_artifact(ArtifactRecord(task.id, "a"))
    with pytest.raises(StatusError, match="read-only"):
        store.add_events([MetricEvent(task.id, "scalar", "t", "s", 0, 1.0)])
    with pytest.raises(StatusError, match="read-only"):
        store.reset_task(task.id)


def _task_with_everything(store: Store) -> tuple[TaskRecord, ModelRecord, ModelRecord]:
    task = store.create_task(
        TaskRecord(
            name="src",
            script={"code": "print(1)"},
            requirements={"pip": "numpy"},
            container={"image": "img"},
            runtime={"cache_key": "ck"},
            tags=["t"],
        )
    )
    store.set_parameters(task.id, {"Args/n": Param(3, "int"), "General/l": Param([1, "a"])})
    store.set_configuration(task.id, "Pipeline", ConfigObject('{"a": 1}', "json", "the dag"))
    model_in = store.put_model(ModelRecord(name="base"))
    store.attach_model(TaskModel(task.id, model_in.id, "input", "base"))
    store.set_status(task.id, "in_progress")
    store.put_artifact(ArtifactRecord(task.id, "data", type="json", inline="[1]"))
    model_out = store.put_model(ModelRecord(name="trained", task_id=task.id))
    store.attach_model(TaskModel(task.id, model_out.id, "output", "trained"))
    store.add_events([MetricEvent(task.id, "scalar", "loss", "train", i, float(i)) for i in range(3)])
    store.add_console([ConsoleLine(task.id, "line")])
    store.put_nodes([NodeState(task.id, "step")])
    store.set_status(task.id, "failed")
    return store.get_task(task.id), model_in, model_out


def test_reset_deletes_outputs_and_keeps_inputs(store: Store) -> None:
    task, model_in, model_out = _task_with_everything(store)
    reset = store.reset_task(task.id)
    assert reset.status == "created" and reset.started is None and reset.ended is None
    assert store.get_artifacts(task.id) == []
    assert store.get_events(EventQuery(task.id)) == []
    assert store.get_console(task.id) == []
    assert store.get_nodes(task.id) == []
    assert [link.model_id for link in store.get_task_models(task.id)] == [model_in.id]
    with pytest.raises(NotFound):
        store.get_model(model_out.id)
    assert store.get_parameters(task.id)["Args/n"].value == 3
    assert "Pipeline" in store.get_configurations(task.id)


def test_clone_copies_definition_not_outputs(store: Store) -> None:
    task, model_in, _ = _task_with_everything(store)
    copy = store.clone_task(task.id, name="copy")
    assert copy.id != task.id and copy.status == "created" and copy.name == "copy"
    assert copy.parent == task.id  # no parent given: the source
    assert copy.script == task.script and copy.requirements == task.requirements
    assert copy.container == task.container and copy.tags == task.tags
    assert copy.runtime == {} and store.get_task(copy.id).runtime == {}
    assert store.get_parameters(copy.id) == store.get_parameters(task.id)
    assert store.get_configurations(copy.id) == store.get_configurations(task.id)
    assert [(m.model_id, m.role) for m in store.get_task_models(copy.id)] == [(model_in.id, "input")]
    assert store.get_artifacts(copy.id) == [] and store.get_events(EventQuery(copy.id)) == []
    project = store.ensure_project("elsewhere")
    moved = store.clone_task(task.id, project=project.id, parent="p" * 32)
    assert moved.project == project.id and moved.parent == "p" * 32 and moved.name == "src"


def test_delete_cascades(store: Store) -> None:
    task, model_in, model_out = _task_with_everything(store)
    store.delete_task(task.id)
    with pytest.raises(NotFound):
        store.get_task(task.id)
    with store.database.read() as conn:  # nothing left behind, events included (they have no FK)
        assert conn.scalar("SELECT COUNT(*) FROM chunks") == 0  # the only task with events
        for table in ("series", "console", "artifacts", "params", "nodes"):
            column = "run_id" if table == "nodes" else "task_id"
            count = conn.scalar(f"SELECT COUNT(*) FROM {table} WHERE {column} = :id", {"id": task.id})
            assert count == 0, table
    with pytest.raises(NotFound):
        store.get_parameters(task.id)
    assert store.get_model(model_in.id).id == model_in.id  # models outlive their tasks
    assert store.get_model(model_out.id).task_id is None


def test_find_cached(store: Store) -> None:
    assert store.find_cached("key") is None
    old = store.create_task(TaskRecord(name="old", runtime={"cache_key": "key"}))
    store.set_status(old.id, "completed")
    time.sleep(0.01)
    new = store.create_task(TaskRecord(name="new", runtime={"cache_key": "key"}))
    store.set_status(new.id, "completed")
    failed = store.create_task(TaskRecord(name="failed", runtime={"cache_key": "key"}))
    store.set_status(failed.id, "failed")
    hit = store.find_cached("key")
    assert hit is not None and hit.id == new.id
    store.edit_task(new.id, {"archived": True})
    hit = store.find_cached("key")
    assert hit is not None and hit.id == old.id
    store.edit_task(old.id, {"system_tags": ["archived"]})
    assert store.find_cached("key") is None
    # the indexed column follows every runtime write
    store.edit_task(failed.id, {"runtime": {"cache_key": "other"}})
    store.set_status(failed.id, "created")
    store.set_status(failed.id, "completed")
    assert store.find_cached("other").id == failed.id  # type: ignore[union-attr]
    store.edit_task(failed.id, {"runtime": {}})
    assert store.find_cached("other") is None


def test_query_filters(store: Store) -> None:
    root = store.ensure_project("proj")
    sub = store.ensure_project("proj/sub")
    other = store.ensure_project("project-other")
    a = store.create_task(TaskRecord(name="alpha", project=root.id, tags=["x", "y"], runtime={"n": 1}))
    time.sleep(0.002)
    b = store.create_task(
        TaskRecord(name="beta", project=sub.id, tags=["x"], system_tags=["pipeline"], type="controller")
    )
    time.sleep(0.002)
    c = store.create_task(TaskRecord(name="gamma", project=other.id, parent=a.id, runtime={"n": 2, "s": "v"}))
    store.set_status(b.id, "in_progress")
    store.edit_task(c.id, {"archived": True})

    def ids(**kw: object) -> list[str]:
        return [t.id for t in store.query_tasks(TaskQuery(**kw))]  # type: ignore[arg-type]

    assert ids() == [b.id, a.id]  # archived hidden, newest first
    assert ids(archived=None) == [c.id, b.id, a.id]
    assert ids(archived=True) == [c.id]
    assert ids(project=root.id) == [a.id]
    assert ids(project_name="proj") == [a.id]
    assert ids(project_name="proj", include_subprojects=True) == [b.id, a.id]
    assert ids(name="beta") == [b.id]
    assert ids(name_pattern="^(al|be)", order_by="name") == [a.id, b.id]
    assert ids(status=["in_progress"]) == [b.id]
    assert ids(type=["controller"]) == [b.id]
    assert ids(tags=["x"], order_by="created") == [a.id, b.id]
    assert ids(tags=["x", "-y"]) == [b.id]
    assert ids(system_tags=["pipeline"]) == [b.id]
    assert ids(system_tags=["-pipeline"]) == [a.id]
    assert ids(parent=a.id, archived=None) == [c.id]
    assert ids(runtime={"n": 1}) == [a.id]
    assert ids(runtime={"n": 2, "s": "v"}, archived=None) == [c.id]
    store.edit_task(b.id, {"runtime": {"flag": True, "ratio": 0.5, "none": None}})
    assert ids(runtime={"flag": True}) == [b.id]
    assert ids(runtime={"flag": False}) == []
    assert ids(runtime={"ratio": 0.5}) == [b.id]
    assert ids(runtime={"none": None, "flag": True}) == [b.id]
    assert ids(ids=[a.id, c.id], archived=None, order_by="name") == [a.id, c.id]
    assert ids(limit=1, offset=1) == [a.id]
    assert store.count_tasks(TaskQuery(archived=None)) == 3
    assert store.count_tasks(TaskQuery(tags=["x"])) == 2
    with pytest.raises(ValidationError, match="order tasks by"):
        store.query_tasks(TaskQuery(order_by="-nope"))
    with pytest.raises(ValidationError, match="regex"):
        store.query_tasks(TaskQuery(name_pattern="("))
    with pytest.raises(ValidationError, match="runtime filter"):
        store.query_tasks(TaskQuery(runtime={"n": [1]}))
