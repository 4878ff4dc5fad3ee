"""Metric events and console lines."""

from __future__ import annotations

import math
import random

import pytest

from ductwork.core.errors import ValidationError
from ductwork.core.queries import EventQuery
from ductwork.core.records import ConsoleLine, MetricEvent, TaskRecord
from ductwork.store import Store, runlists


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


def test_points_of_several_writes_read_back_by_iteration_then_as_written(store: Store) -> None:
    # Each write packs each series' points into a chunk (store/chunks.py); reads unpack them.
    task = store.create_task(TaskRecord(name="t"))
    train, valid, log = (("scalar", "loss", "train"), ("scalar", "loss", "valid"), ("text", "log", ""))
    store.add_events(
        [
            MetricEvent(task.id, *train, 0, 1.0, ts=1.0),
            MetricEvent(task.id, *valid, 0, 2.0, ts=2.0),
            MetricEvent(task.id, *train, 1, None, ts=3.0),
            MetricEvent(task.id, *log, 0, None, "a", ts=4.0),
            MetricEvent(task.id, *train, 2, math.nan, ts=5.0),
            MetricEvent(task.id, *log, 1, None, None, ts=6.0),
        ]
    )
    store.add_events(
        [MetricEvent(task.id, *train, 1, 5.0, ts=7.0), MetricEvent(task.id, *valid, 3, -math.inf, ts=8.0)]
    )
    events = store.get_events(EventQuery(task.id))
    assert [e.ts for e in events] == [1.0, 2.0, 4.0, 3.0, 6.0, 7.0, 5.0, 8.0]
    assert [e.payload for e in events if e.kind == "text"] == ["a", None]
    assert events[3].value is None and math.isnan(events[6].value or 0.0) and events[7].value == -math.inf
    late = store.get_events(EventQuery(task.id, kind="scalar", after_iteration=1))
    assert [e.ts for e in late] == [5.0, 8.0]
    assert [e.ts for e in store.get_events(EventQuery(task.id, series="train", limit=3))] == [1.0, 3.0, 7.0]
    with store.database.read() as conn:
        last = runlists.last_metrics(conn, [task.id])
    assert last is not None and last[task.id]["loss/valid"] == -math.inf
    train_last = last[task.id]["loss/train"]  # the value at the highest iteration that has one
    assert math.isnan(train_last) if store.database.dialect == "postgresql" else train_last == 5.0


def test_a_bad_value_in_any_series_refuses_the_whole_write(store: Store) -> None:
    task = store.create_task(TaskRecord(name="t"))
    good = MetricEvent(task.id, "scalar", "loss", "train", 0, 1.0)
    for bad, field in ((2**63, "iteration"), ("a\x00b", "series"), (2**1100, "value")):
        event = MetricEvent(task.id, "scalar", "loss", "valid", 0, 1.0)
        setattr(event, field, bad)
        with pytest.raises(ValidationError, match=field):
            store.add_events([good, event])
    assert store.get_events(EventQuery(task.id)) == []


def test_a_limited_read_is_the_head_of_the_whole_read(store: Store) -> None:
    # A limited read takes chunks in order of their lowest iteration, not all of them: it must
    # give what the whole read gives, cut (writes overlap in iterations, ties included).
    task = store.create_task(TaskRecord(name="t"))
    rng = random.Random(15)
    for write in range(12):
        store.add_events(
            [
                MetricEvent(
                    task.id, "scalar", "loss", rng.choice(["a", "b"]), rng.randrange(40), float(i), ts=write
                )
                for i in range(rng.randrange(1, 9))
            ]
        )
    for after in (None, -1, 5, 20, 39):
        whole = store.get_events(EventQuery(task.id, after_iteration=after))
        for limit in (0, 1, 2, 7, 30, 1000):
            head = store.get_events(EventQuery(task.id, after_iteration=after, limit=limit))
            assert head == whole[:limit], (after, limit)
