"""Metric events and console lines."""

from __future__ import annotations

import pytest

from ductwork.core.errors import ValidationError
from ductwork.core.queries import EventQuery
from ductwork.core.records import ConsoleLine, MetricEvent, TaskRecord
from ductwork.store import Store


def test_events_filter_and_order(store: Store) -> None:
    task = store.create_task(TaskRecord(name="t"))
    other = store.create_task(TaskRecord(name="o"))
    batch = [MetricEvent(task.id, "scalar", "loss", "train", i, i / 2) for i in range(10)]
    batch += [MetricEvent(task.id, "scalar", "loss", "val", i, i * 2.0) for i in range(0, 10, 5)]
    batch += [MetricEvent(task.id, "plot", "fig", "s", 3, None, {"data": [{"x": [1]}], "layout": {}})]
    batch += [MetricEvent(task.id, "single", "acc", "", 0, 0.9)]
    batch += [MetricEvent(other.id, "text", "log", "", 0, None, "hi")]
    store.add_events(batch)
    everything = store.get_events(EventQuery(task.id))
    assert len(everything) == 14
    assert [e.iteration for e in everything] == sorted(e.iteration for e in everything)
    train = store.get_events(EventQuery(task.id, kind="scalar", title="loss", series="train"))
    assert [(e.iteration, e.value) for e in train] == [(i, i / 2) for i in range(10)]
    late = store.get_events(EventQuery(task.id, series="train", after_iteration=7))
    assert [e.iteration for e in late] == [8, 9]
    assert len(store.get_events(EventQuery(task.id, series="train", limit=3))) == 3
    plot = store.get_events(EventQuery(task.id, kind="plot"))
    assert plot[0].payload == {"data": [{"x": [1]}], "layout": {}} and plot[0].value is None
    assert store.get_events(EventQuery(other.id))[0].payload == "hi"
    assert store.get_events(EventQuery(task.id, title="nothing")) == []
    with pytest.raises(ValidationError, match="event kind"):
        store.add_events([MetricEvent(task.id, "weird")])
    store.add_events([])


def test_console_sequence_numbers(store: Store) -> None:
    task = store.create_task(TaskRecord(name="t"))
    other = store.create_task(TaskRecord(name="o"))
    store.add_console(
        [ConsoleLine(task.id, "a"), ConsoleLine(other.id, "x", "stderr"), ConsoleLine(task.id, "b")]
    )
    store.add_console([ConsoleLine(task.id, "c", "ductwork")])
    lines = store.get_console(task.id)
    assert [(line.seq, line.text) for line in lines] == [(1, "a"), (2, "b"), (3, "c")]
    assert lines[2].stream == "ductwork"
    assert [line.text for line in store.get_console(task.id, after=1)] == ["b", "c"]
    assert [line.text for line in store.get_console(task.id, after=1, limit=1)] == ["b"]
    assert store.get_console(task.id, after=3) == []
    assert [(line.seq, line.stream) for line in store.get_console(other.id)] == [(1, "stderr")]
    with pytest.raises(ValidationError, match="stream"):
        store.add_console([ConsoleLine(task.id, "x", "stdin")])
