"""Artifact records, model records and task-model links."""

from __future__ import annotations

import pytest

from ductwork.core.errors import NotFound, ValidationError
from ductwork.core.records import ArtifactRecord, ModelRecord, TaskModel, TaskRecord
from ductwork.store import Store


def test_put_replaces_by_task_and_name(store: Store) -> None:
    task = store.create_task(TaskRecord(name="t"))
    first = ArtifactRecord(task.id, "data", type="numpy", uri="s3://bucket/a.npy", hash="h1", size=10)
    store.put_artifact(first)
    second = ArtifactRecord(
        task.id,
        "data",
        type="numpy",
        uri="s3://bucket/b.npy",
        hash="h2",
        size=2**40,
        content_type="application/x-npy",
        preview="array(...)",
        metadata={"shape": [2, 3]},
        file_name="b.npy",
    )
    store.put_artifact(second)
    store.put_artifact(ArtifactRecord(task.id, "cfg", type="json", inline='{"a": 1}'))
    assert store.get_artifacts(task.id) == [
        ArtifactRecord(
            task.id,
            "cfg",
            type="json",
            inline='{"a": 1}',
            timestamp=store.get_artifacts(task.id)[0].timestamp,
        ),
        second,
    ]
    store.delete_artifact(task.id, "cfg")
    assert store.get_artifacts(task.id) == [second]
    with pytest.raises(NotFound, match="'cfg'"):
        store.delete_artifact(task.id, "cfg")
    with pytest.raises(ValidationError, match="mode"):
        store.put_artifact(ArtifactRecord(task.id, "x", mode="sideways"))
    with pytest.raises(ValidationError, match="name"):
        store.put_artifact(ArtifactRecord(task.id, ""))


def test_models_and_links_in_attach_order(store: Store) -> None:
    project = store.ensure_project("models")
    task = store.create_task(TaskRecord(name="t", project=project.id))
    a = store.put_model(ModelRecord(name="a", project=project.id, tags=["best"], labels={"cat": 1}))
    b = store.put_model(
        ModelRecord(name="b", task_id=task.id, framework="torch", uri="s3://bucket/b.pt", size=5)
    )
    c = store.put_model(ModelRecord(name="c"))
    assert store.get_model(b.id) == b
    store.attach_model(TaskModel(task.id, a.id, "input", "base"))
    store.attach_model(TaskModel(task.id, b.id, "output", ""))
    store.attach_model(TaskModel(task.id, c.id, "input", "other"))
    links = store.get_task_models(task.id)
    assert [(m.model_id, m.role, m.name) for m in links] == [
        (a.id, "input", "base"),
        (b.id, "output", "b"),
        (c.id, "input", "other"),
    ]
    # the same role + name again points the link at another model, in place
    store.attach_model(TaskModel(task.id, c.id, "input", "base"))
    assert [m.model_id for m in store.get_task_models(task.id)] == [c.id, b.id, c.id]
    updated = store.put_model(ModelRecord(id=b.id, name="b", task_id=task.id, published=True))
    assert store.get_model(b.id) == updated
    assert [m.id for m in store.query_models(project=project.id)] == [a.id]
    assert [m.id for m in store.query_models(name="c")] == [c.id]
    assert [m.id for m in store.query_models(tags=["best"])] == [a.id]
    assert len(store.query_models()) == 3
    with pytest.raises(NotFound, match="model"):
        store.attach_model(TaskModel(task.id, "9" * 32, "input"))
    with pytest.raises(ValidationError, match="role"):
        store.attach_model(TaskModel(task.id, a.id, "sideways"))
    with pytest.raises(NotFound, match="9" * 32):
        store.get_model("9" * 32)
    with pytest.raises(NotFound, match="project"):
        store.put_model(ModelRecord(name="x", project="8" * 32))
