"""`Store.add_event_rows`: the SDK's bulk path (rows, the fields of MetricEvent in order) stores
what `add_events` stores and refuses what it refuses, naming the field, on both databases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ductwork.core.errors import NotFound, StatusError, ValidationError
from ductwork.core.queries import EventQuery
from ductwork.core.records import MetricEvent, TaskRecord
from ductwork.store import Store


def row(task_id: str, i: int, value: object = 0.5, **fields: object) -> tuple[object, ...]:
    event = {"title": "loss", "series": "train", "iteration": i, "value": value, "payload": None, "ts": 1.0}
    event.update(fields)
    return (
        task_id,
        fields.get("kind", "scalar"),
        *(event[k] for k in ("title", "series", "iteration", "value", "payload", "ts")),
    )


def test_rows_read_back_as_the_same_events(store: Store) -> None:
    task = store.create_task(TaskRecord(name="t"))
    rows = [row(task.id, i, i / 2) for i in range(5)]
    rows += [row(task.id, 5, math.nan), row(task.id, 6, math.inf), row(task.id, 7, -math.inf)]
    rows += [row(task.id, 0, None, kind="plot", title="fig", payload={"data": [], "layout": {}})]
    store.add_event_rows(rows)
    store.add_event_rows([])
    scalars = store.get_events(EventQuery(task.id, kind="scalar"))
    assert [(e.iteration, e.value) for e in scalars[:5]] == [(i, i / 2) for i in range(5)]
    assert math.isnan(scalars[5].value or 0.0) and scalars[5].payload is None
    assert [e.value for e in scalars[6:]] == [math.inf, -math.inf]
    assert scalars[0] == MetricEvent(task.id, "scalar", "loss", "train", 0, 0.0, None, 1.0)
    assert store.get_events(EventQuery(task.id, kind="plot"))[0].payload == {"data": [], "layout": {}}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"title": "a\x00b"}, "title"),
        ({"series": "s" * 513}, "series"),
        ({"title": 5}, "title"),
        ({"iteration": 2**63}, "iteration"),
        ({"iteration": 1.5}, "iteration"),
        ({"value": "0.5"}, "value"),
        ({"ts": math.nan}, "ts"),
        ({"kind": "weird"}, "event kind"),
        ({"payload": {"a": object()}}, "payload"),
        ({"payload": np.array([1.0, 2.0])}, "payload"),  # its == is elementwise
        ({"kind": 5}, "kind"),
    ],
)
def test_a_bad_row_is_refused_whole_naming_its_field(
    store: Store, bad: dict[str, object], message: str
) -> None:
    task = store.create_task(TaskRecord(name="t"))
    with pytest.raises(ValidationError, match=message):
        store.add_event_rows([row(task.id, 0), row(task.id, 1, **bad)])
    assert store.get_events(EventQuery(task.id)) == []  # nothing of the batch is stored


def test_rows_that_are_not_rows_are_refused(store: Store) -> None:
    task = store.create_task(TaskRecord(name="t"))
    with pytest.raises(ValidationError, match="metric event 1: a row of the 8 fields"):
        store.add_event_rows([row(task.id, 0), (task.id, "scalar", "loss")])
    with pytest.raises(ValidationError, match="metric event 0: a row of the 8 fields"):
        store.add_event_rows([[task.id, "scalar", "loss", "train", 0, 0.5, None, 1.0]])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="task_id"):
        store.add_event_rows([row("x" * 33, 0)])


def test_rows_of_a_missing_or_closed_task_are_refused(store: Store) -> None:
    with pytest.raises(NotFound):
        store.add_event_rows([row("0" * 32, 0)])
    task = store.create_task(TaskRecord(name="t"))
    store.set_status(task.id, "in_progress")
    store.set_status(task.id, "completed")
    store.set_status(task.id, "published")
    with pytest.raises(StatusError, match="read-only"):
        store.add_event_rows([row(task.id, 0)])


@pytest.mark.parametrize(
    "order",
    [
        ["a", "b", "a", "b", "a"],  # the same series in turn (taken every other point)
        ["a", "b", "a", "c", "b"],  # no turn: grouped point by point
        ["a", "a", "b", "b", "a"],
    ],
)
def test_rows_of_several_series_read_back_per_series_and_in_order(store: Store, order: list[str]) -> None:
    task = store.create_task(TaskRecord(name="t"))
    rows = [row(task.id, i // 2, float(i), series=name, ts=float(i)) for i, name in enumerate(order)]
    store.add_event_rows(rows)
    for name in set(order):
        read = store.get_events(EventQuery(task.id, series=name))
        assert [(e.iteration, e.value) for e in read] == [(r[4], r[5]) for r in rows if r[3] == name]
    everything = store.get_events(EventQuery(task.id))
    assert [e.ts for e in everything] == [r[7] for r in sorted(rows, key=lambda r: r[4])]
