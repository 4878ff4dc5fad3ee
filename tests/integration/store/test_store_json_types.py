"""Values keep their JSON types on every transport: nothing is converted to fit a field.

These tests take only `store` and call only Backend methods, so tests/integration/server/
test_contract.py runs each again through `HttpBackend` against a live server: the embedded
store and the HTTP API must agree. A string stays a string ("1" is never 1.0), an int an int,
a bool a bool, a float a float, wherever a value of any type is kept (parameters, runtime,
script, artifact metadata, event payloads); a field of one type (a metric's value, an
iteration, a model's `published`) refuses a value of another with `ValidationError`, and
nothing of the refused batch is written.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from ductwork.core.errors import ValidationError
from ductwork.core.queries import EventQuery, TaskQuery
from ductwork.core.records import ArtifactRecord, MetricEvent, ModelRecord, NodeState, Param, TaskRecord

# One of each JSON type, and the texts that look like the others.
VALUES: list[Any] = ["1", "1.0", "true", "null", "", 1, 0, -7, 2**53 + 1, 1.0, 0.5, True, False, None]
NESTED: dict[str, Any] = {"list": list(VALUES), "dict": {str(i): v for i, v in enumerate(VALUES)}}


def typed(value: Any) -> Any:
    """`value` with each leaf paired with its type's name, so 1 == 1.0 == True no longer hold."""
    if isinstance(value, dict):
        return {key: typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [typed(item) for item in value]
    return (type(value).__name__, value)


def test_untyped_values_round_trip_with_their_json_types(store: Any) -> None:
    task = store.create_task(TaskRecord(name="json types", runtime={"v": NESTED}, script={"v": NESTED}))
    params = {f"Args/p{i}": Param(value) for i, value in enumerate([*VALUES, NESTED["list"], NESTED["dict"]])}
    params["Args/typed"] = Param("1", "str")
    store.set_parameters(task.id, params)
    got = store.get_parameters(task.id)
    assert {key: typed(p.value) for key, p in got.items()} == {
        key: typed(p.value) for key, p in params.items()
    }
    read = store.get_task(task.id)
    assert typed(read.runtime) == typed({"v": NESTED}) and typed(read.script) == typed({"v": NESTED})
    edited = store.edit_task(task.id, {"runtime": {"w": NESTED}})
    assert typed(edited.runtime) == typed({"w": NESTED})
    store.put_artifact(ArtifactRecord(task_id=task.id, name="a", metadata=dict(NESTED), inline="1"))
    (artifact,) = store.get_artifacts(task.id)
    assert typed(artifact.metadata) == typed(NESTED) and artifact.inline == "1"
    events = [
        MetricEvent(task_id=task.id, kind="text", title="t", series=f"s{i}", iteration=i, payload=value)
        for i, value in enumerate(VALUES)
    ]
    store.add_events(events)
    got_events = sorted(store.get_events(EventQuery(task.id)), key=lambda e: e.iteration)
    assert [typed(e.payload) for e in got_events] == [typed(value) for value in VALUES]
    assert all(type(e.iteration) is int for e in got_events)


def test_numbers_keep_their_kind_in_typed_fields(store: Any) -> None:
    task = store.create_task(TaskRecord(name="typed fields"))
    store.add_events([MetricEvent(task_id=task.id, kind="scalar", title="x", series="int", value=3)])
    store.add_events([MetricEvent(task_id=task.id, kind="scalar", title="x", series="float", value=0.25)])
    values = {e.series: e.value for e in store.get_events(EventQuery(task.id))}
    # JSON has one number type: an integer given for a float field is that float everywhere
    assert typed(values) == {"int": ("float", 3.0), "float": ("float", 0.25)}
    model = store.put_model(ModelRecord(name="m", task_id=task.id, labels={"cat": 1}, published=True, size=5))
    got = store.get_model(model.id)
    assert typed([got.labels, got.published, got.size]) == typed([{"cat": 1}, True, 5])
    store.put_nodes([NodeState(run_id=task.id, name="n", attempt=2, message="1", cache_key="0")])
    (node,) = store.get_nodes(task.id)
    assert typed([node.attempt, node.message, node.cache_key]) == typed([2, "1", "0"])


# (field, a value of another JSON type): each refused, over every transport
METRIC_REFUSALS: list[tuple[str, Any]] = [
    ("value", "1"),
    ("value", "1.5"),
    ("value", True),
    ("iteration", "3"),
    ("iteration", 1.5),
    ("iteration", True),
]
MODEL_REFUSALS: list[tuple[str, Any]] = [
    ("published", 1),
    ("published", "true"),
    ("size", "5"),
    ("size", True),
    ("size", 5.0),
    ("labels", {"cat": "1"}),
    ("labels", {"cat": True}),
    ("name", 1),
]


def test_a_metric_field_refuses_another_json_type(store: Any) -> None:
    task = store.create_task(TaskRecord(name="refused"))
    for field, value in METRIC_REFUSALS:
        good = MetricEvent(task_id=task.id, kind="scalar", title="x", series="ok", value=1.0)
        bad = MetricEvent(task_id=task.id, kind="scalar", title="x", series="bad", value=1.0)
        setattr(bad, field, value)
        with pytest.raises(ValidationError, match=field):
            store.add_events([good, bad])
        assert store.get_events(EventQuery(task.id)) == [], (field, value)  # nothing of the batch


def test_a_model_field_refuses_another_json_type(store: Any) -> None:
    task = store.create_task(TaskRecord(name="refused model"))
    for field, value in MODEL_REFUSALS:
        model = ModelRecord(name=f"refused-{task.id}", task_id=task.id)
        setattr(model, field, value)
        with pytest.raises(ValidationError, match=field):
            store.put_model(model)
        assert store.query_models(name=f"refused-{task.id}") == [], (field, value)


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


# A field holding JSON (tags, runtime, script, ...) and a value in it that no store can hold, with
# where the refusal must say it is.
HOSTILE: list[tuple[str, Any, str]] = [
    ("tags", ["ok", "a\x00b"], "tags[1]"),
    ("system_tags", ["\x00"], "system_tags[0]"),
    ("runtime", {"step": {"deep": "a\x00"}}, "runtime"),
    ("script", {"entry\x00": "x"}, "script key"),
    ("container", {"image": "x\x00"}, "container"),
    ("requirements", {"pip": ["\x00"]}, "requirements"),
    ("runtime", {"deep": _nested(80)}, "runtime"),
]


def test_a_json_field_refuses_a_value_no_store_holds_naming_it(store: Any) -> None:
    # SQLite would take a NUL in JSON text (PostgreSQL's jsonb cannot): both refuse it, naming the
    # field, creating a task or editing one, and nothing is written.
    kept = store.create_task(TaskRecord(name="kept", runtime={"a": 1}))
    for field, value, where in HOSTILE:
        with pytest.raises(ValidationError, match=re.escape(where)):
            store.create_task(TaskRecord(name="hostile", **{field: value}))
        with pytest.raises(ValidationError, match=re.escape(where)):
            store.edit_task(kept.id, {field: value})
    assert store.get_task(kept.id).runtime == {"a": 1}
    assert [task.name for task in store.query_tasks(TaskQuery())] == ["kept"]
