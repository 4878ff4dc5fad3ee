"""Renaming a task's model link (`rename_model_link`: ClearML's `OutputModel.connect(task, name=...)`),
on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from ductwork.core.errors import NotFound, StatusError, ValidationError
from ductwork.core.records import ModelRecord, TaskModel, TaskRecord
from ductwork.core.states import TaskStatus
from ductwork.store import Store


def _links(store: Store, task_id: str) -> list[tuple[str, str, str]]:
    return [(link.model_id, link.role, link.name) for link in store.get_task_models(task_id)]


def test_a_renamed_link_keeps_its_model_and_its_place(store: Store) -> None:
    task = store.create_task(TaskRecord(name="t"))
    a, b = store.put_model(ModelRecord(name="a")), store.put_model(ModelRecord(name="b"))
    store.attach_model(TaskModel(task.id, a.id, "output"))
    store.attach_model(TaskModel(task.id, b.id, "output"))

    store.rename_model_link(TaskModel(task.id, a.id, "output", "a"), "best")

    assert _links(store, task.id) == [(a.id, "output", "best"), (b.id, "output", "b")]
    assert store.get_model(a.id).name == "a"  # the model keeps its own name


def test_a_rename_onto_another_models_name_replaces_that_link(store: Store) -> None:
    task = store.create_task(TaskRecord(name="t"))
    a, b = store.put_model(ModelRecord(name="a")), store.put_model(ModelRecord(name="b"))
    store.attach_model(TaskModel(task.id, a.id, "output"))
    store.attach_model(TaskModel(task.id, b.id, "output"))
    store.attach_model(TaskModel(task.id, b.id, "input", "a"))  # another role: untouched

    store.rename_model_link(TaskModel(task.id, b.id, "output", "b"), "a")

    assert _links(store, task.id) == [(b.id, "output", "a"), (b.id, "input", "a")]


def test_a_repeated_rename_is_done_and_a_missing_link_is_not_found(store: Store) -> None:
    task = store.create_task(TaskRecord(name="t"))
    a, b = store.put_model(ModelRecord(name="a")), store.put_model(ModelRecord(name="b"))
    store.attach_model(TaskModel(task.id, a.id, "output"))
    link = TaskModel(task.id, a.id, "output", "a")
    store.rename_model_link(link, "best")

    store.rename_model_link(link, "best")  # the first one landed: nothing to do
    store.rename_model_link(TaskModel(task.id, a.id, "output", "best"), "best")

    assert _links(store, task.id) == [(a.id, "output", "best")]
    for missing in (
        TaskModel(task.id, b.id, "output", "best"),  # another model under that name
        TaskModel(task.id, a.id, "input", "best"),  # another role
        TaskModel(task.id, a.id, "output", "nothing"),
    ):
        with pytest.raises(NotFound, match="has no"):
            store.rename_model_link(missing, "other")
    with pytest.raises(NotFound, match="9" * 32):
        store.rename_model_link(TaskModel("9" * 32, a.id, "output", "a"), "best")
    assert _links(store, task.id) == [(a.id, "output", "best")]


def test_a_rename_refuses_bad_names_and_published_tasks(store: Store) -> None:
    task = store.create_task(TaskRecord(name="t"))
    a = store.put_model(ModelRecord(name="a"))
    store.attach_model(TaskModel(task.id, a.id, "output"))
    link = TaskModel(task.id, a.id, "output", "a")

    for name, message in (("", "empty"), ("x" * 513, "too long"), ("a\x00b", "NUL"), (3, "string")):
        with pytest.raises(ValidationError, match=message):
            store.rename_model_link(link, name)  # type: ignore[arg-type]  # a wrong type on purpose
    with pytest.raises(ValidationError, match="role"):
        store.rename_model_link(TaskModel(task.id, a.id, "sideways", "a"), "best")
    store.set_status(task.id, TaskStatus.published.value, force=True)
    with pytest.raises(StatusError, match="published"):
        store.rename_model_link(link, "best")
    assert _links(store, task.id) == [(a.id, "output", "a")]
