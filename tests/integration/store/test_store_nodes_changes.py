"""Run node states, projects, and the change feed behind the server's live events."""

from __future__ import annotations

import pytest

from ductwork.core.errors import ValidationError
from ductwork.core.records import ArtifactRecord, NodeState, TaskRecord
from ductwork.store import Store


def test_put_nodes_upserts_in_first_seen_order(store: Store) -> None:
    run = store.create_task(TaskRecord(name="controller", type="controller"))
    store.put_nodes([NodeState(run.id, "b"), NodeState(run.id, "a", cache_key="k")])
    store.put_nodes(
        [
            NodeState(run.id, "a", "completed", "t" * 32, 1.0, 2.0, 1, "k", "hit", "done"),
            NodeState(run.id, "c", "running"),
        ]
    )
    got = store.get_nodes(run.id)
    assert [n.name for n in got] == ["b", "a", "c"]
    assert got[1] == NodeState(run.id, "a", "completed", "t" * 32, 1.0, 2.0, 1, "k", "hit", "done")
    assert store.get_nodes(store.create_task(TaskRecord(name="empty")).id) == []
    with pytest.raises(ValidationError, match=r"'a'.*status"):
        store.put_nodes([NodeState(run.id, "a", "exploded")])


def test_projects(store: Store) -> None:
    leaf = store.ensure_project(" a / b /c ", ["pipeline"])
    assert leaf.name == "a/b/c" and leaf.system_tags == ["pipeline"]
    assert [p.name for p in store.list_projects()] == ["a", "a/b", "a/b/c"]
    again = store.ensure_project("a/b/c", ["hidden", "pipeline"])
    assert again.id == leaf.id and again.system_tags == ["pipeline", "hidden"]
    assert store.get_project(leaf.id).system_tags == ["pipeline", "hidden"]
    assert store.find_project("a/b") is not None and store.find_project("zzz") is None
    for bad in ("", "a//b", "/a"):
        with pytest.raises(ValidationError, match="project name"):
            store.ensure_project(bad)


def test_changes_since(store: Store) -> None:
    start = store.changes_since(None)
    task = store.create_task(TaskRecord(name="t"))
    run = store.create_task(TaskRecord(name="run", type="controller"))
    store.put_nodes([NodeState(run.id, "step")])
    first = store.changes_since(start.cursor)
    assert set(first.tasks) == {task.id, run.id}
    assert set(first.runs) == {run.id}
    store.put_artifact(ArtifactRecord(task.id, "a"))
    second = store.changes_since(first.cursor)
    assert task.id in second.tasks
    if store.dialect == "sqlite":  # exact on SQLite; PostgreSQL may repeat ids within its settle window
        assert set(second.tasks) == {task.id} and second.runs == {}
        assert store.changes_since(second.cursor).tasks == {}
    assert second.cursor >= first.cursor >= start.cursor
