"""The store's fast checks (`bounds.plain_row`, `bounds.json_plain`) against its full ones.

A fast check may send a value to the full check that would pass it (it is only slower then);
it may never pass a value the full check refuses, and what it passes is encoded exactly as
`json.dumps` encodes it. Each case is compared with the full check (`value_fits` over every
column, `json_value`) and `json.dumps` made here, on both dialects; then rows through
`bounds.encoded`, `tasks.checked_row`, `held.hold`, `params.rows_of`, artifacts and nodes raise
what the full check raises, word for word, or give the rows it would.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ductwork.core.errors import ValidationError
from ductwork.core.records import ArtifactRecord, NodeState, Param, TaskRecord
from ductwork.store import artifacts, bounds, held, nodes, params, sql, tasks

DIALECTS = ("sqlite", "postgresql")


def nested(depth: int, leaf: Any = "leaf", dicts: bool = False) -> Any:
    """`depth` containers one in the other (the outermost at depth 0)."""
    value = leaf
    for _ in range(depth):
        value = {"k": value} if dicts else [value]
    return value


class Shape(dict[str, Any]):
    """A dict subclass: JSON to json.dumps, walked by the full check, never plain by type."""


class Word(str):
    __slots__ = ()


circular: list[Any] = []
circular.append(circular)

# Values for a JSON column, hostile and not.
JSON_VALUES: list[Any] = [
    None,
    True,
    0,
    2**63,
    -(2**64),
    10**5000,  # json.dumps refuses it (int to text conversion limit)
    1.5,
    math.nan,
    math.inf,
    -math.inf,
    "",
    "plain",
    "a\x00b",
    "\\u0000",  # a backslash and "u0000": the text holds "\\u0000"
    "\\\x00",
    "[[[[{{{{" * 20,  # brackets in a string, past MAX_DEPTH of them
    "x" * (bounds.MAX_ITEMS + 1),
    "x" * (bounds.MAX_TEXT + 1),
    Word("word\x00"),
    [],
    {},
    (),
    ("a", ("b\x00",)),
    [1, [2, [3, "\x00"]]],
    {"a": {"b": {"c\x00": 1}}},
    {"nested": {"key\x00": "v"}},
    {"k": "\x00"},
    {1: "a", 2.5: "b", False: "c", None: "d"},
    {1: "a", "1": "b"},
    {math.nan: 1},
    {(1, 2): "tuple key"},
    {"k": {1, 2}},  # a set: json.dumps refuses it, the full check passes it
    {"k": object()},
    {"k": [math.nan]},
    {"k": (math.inf,)},
    Shape(a="\x00"),
    Shape(a=1),
    nested(bounds.MAX_DEPTH),
    nested(bounds.MAX_DEPTH + 1),
    nested(bounds.MAX_DEPTH, dicts=True),
    nested(bounds.MAX_DEPTH + 1, dicts=True),
    nested(bounds.MAX_DEPTH - 1, leaf="\x00"),
    nested(5000),  # deeper than json.dumps' recursion
    [nested(bounds.MAX_DEPTH // 2)] * 3,  # more brackets than MAX_DEPTH, none deep
    circular,
    list(range(bounds.MAX_ITEMS + 1)),
]


def shown(value: Any) -> str:
    try:
        return bounds.short(value, 24)
    except RecursionError:
        return "too deep to show"


def full(call: Callable[[], Any]) -> Any:
    """What `call` gives: ("ok", value) or (error type, message)."""
    try:
        return ("ok", call())
    except (ValidationError, TypeError, ValueError, RecursionError) as error:
        return (type(error), str(error))


def dumps_as_before(value: Any) -> Any:
    return full(lambda: json.dumps(value))


@pytest.mark.parametrize("finite", [False, True])
@pytest.mark.parametrize("value", JSON_VALUES, ids=shown)
def test_a_json_value_passes_plainly_only_when_the_full_check_passes_it(value: Any, finite: bool) -> None:
    text = bounds.json_plain(value, finite=finite)
    if text is not bounds.NOT_PLAIN:
        bounds.json_value(value, "field", finite=finite)  # raises if the fast check was wrong
        assert text == json.dumps(value)
    else:
        assert sql.json_text(value, finite=finite) is None or not bounds.json_fits(value, finite=finite)


def test_what_the_fast_check_decides_on_its_own() -> None:
    plain = bounds.json_plain
    assert plain(nested(bounds.MAX_DEPTH)) == json.dumps(nested(bounds.MAX_DEPTH))
    assert plain(nested(bounds.MAX_DEPTH + 1)) is bounds.NOT_PLAIN
    assert plain({"a": {"b\x00": 1}}) is bounds.NOT_PLAIN
    assert plain(["\\u0000"]) == json.dumps(["\\u0000"])  # a false alarm, walked and kept
    assert plain([math.nan]) == "[NaN]" and plain([math.nan], finite=True) is bounds.NOT_PLAIN
    assert plain({1: "a", None: "b"}) == '{"1": "a", "null": "b"}'  # json.dumps' keys, as before
    assert plain({(1,): "a"}) is bounds.NOT_PLAIN and plain(circular) is bounds.NOT_PLAIN
    assert plain(10**5000) is bounds.NOT_PLAIN


def _json_values() -> st.SearchStrategy[Any]:
    text = st.text(alphabet=st.sampled_from(["a", "\x00", "\\", "u", "0", "[", "{", "é", "\U0001f600"]))
    leaves = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**70), max_value=2**70)
        | st.floats(allow_nan=True, allow_infinity=True)
        | text
    )
    keys = text | st.integers(-5, 5) | st.booleans() | st.none() | st.floats(allow_nan=True)
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.lists(inner, max_size=3).map(tuple)
            | st.dictionaries(keys, inner, max_size=4)
        ),
        max_leaves=60,
    )


@settings(max_examples=400, deadline=None, derandomize=True)
@given(value=_json_values(), finite=st.booleans())
def test_any_json_value_the_fast_check_passes_the_full_check_passes_and_encodes_alike(
    value: Any, finite: bool
) -> None:
    text = bounds.json_plain(value, finite=finite)
    if text is not bounds.NOT_PLAIN:
        bounds.json_value(value, "field", finite=finite)
        assert text == json.dumps(value)
    elif bounds.json_fits(value, finite=finite) and sql.json_text(value, finite=finite) is not None:
        pytest.fail(f"a plain value sent to the full check: {value!r}")


@settings(max_examples=200, deadline=None, derandomize=True)
@given(value=_json_values(), depth=st.integers(bounds.MAX_DEPTH - 2, bounds.MAX_DEPTH + 2))
def test_any_value_nested_about_max_depth(value: Any, depth: int) -> None:
    deep = nested(depth, leaf=value)
    text = bounds.json_plain(deep)
    if text is not bounds.NOT_PLAIN:
        bounds.json_value(deep, "field")
        assert text == json.dumps(deep)


def reference_row(table: str, values: dict[str, Any], where: str, dialect: str) -> dict[str, Any]:
    """The full check of every column, then each JSON column by json.dumps (what the store did
    before its fast path)."""
    known = bounds.columns(table)
    for name, value in values.items():
        if name in known:
            bounds.value_fits(known[name], value, f"{where}: {name}", dialect)
    row = dict(values)
    for name, column in known.items():
        if column.codec == "json" and row.get(name) is not None:
            row[name] = json.dumps(row[name])
    return row


# A task's column and a value for it: each replaces that field of a real step's task.
TASK_FIELDS: list[tuple[str, Any]] = [
    ("name", "a\x00b"),
    ("name", "x" * 513),
    ("name", Word("word")),
    ("project", None),
    ("project", "p" * 33),
    ("comment", "c" * (bounds.MAX_TEXT + 1)),
    ("output_uri", None),
    ("progress", 2**31),
    ("progress", 2**70),
    ("progress", True),
    ("progress", 3.0),
    ("archived", 1),
    ("created", math.nan),
    ("created", 5),
    ("started", math.inf),
    ("queue", 5),
    ("tags", ["ok", "a\x00b"]),
    ("tags", ("a", "b")),
    ("system_tags", ["\x00"]),
    ("script", {"entry\x00": "x"}),
    ("script", {"code": "x = [[{}]]\n" * 40}),
    ("script", {"code": "print('\\u0000')"}),
    ("runtime", {"step": {"deep": "a\x00"}}),
    ("runtime", {"deep": nested(80)}),
    ("runtime", {"deep": nested(bounds.MAX_DEPTH - 1)}),
    ("runtime", {"deep": nested(bounds.MAX_DEPTH)}),
    ("runtime", {"x": math.nan}),
    ("runtime", {"x": [math.inf]}),
    ("runtime", {1: "int key", None: "none key"}),
    ("runtime", {(1, 2): "tuple key"}),
    ("runtime", {"s": {1, 2}}),
    ("runtime", {"big": 2**200}),
    ("runtime", {"cache_key": 5}),
    ("runtime", {"cache_key": "k" * 129}),
    ("container", {"image": "x\x00"}),
    ("requirements", {"pip": ["\x00"]}),
    ("requirements", Shape(pip="x")),
]


def step_task(**changes: Any) -> TaskRecord:
    script = {"module": "ductwork.sdk.runner", "code": "def f(x):\n    return x\n", "function": "f"}
    runtime = {"return_names": ["v"], "step": "f", "run": "r" * 32, "attempt": 0, "_owner": {"pid": 1}}
    task = TaskRecord(
        id="t" * 32, name="f", project="p" * 32, status="in_progress", script=script, runtime=runtime
    )
    for name, value in changes.items():
        setattr(task, name, value)
    return task


def _task_reference(task: TaskRecord, dialect: str) -> Any:
    values = {name: getattr(task, name) for name in tasks.FIELDS}
    tasks._check_values(values, f"task {task.id}")
    return reference_row("tasks", values, f"task {task.id}", dialect)


def _without_times(outcome: Any) -> Any:
    if outcome[0] != "ok":
        return outcome
    row = outcome[1]
    return ("ok", {k: v for k, v in row.items() if k not in ("started", "ended", "updated")})


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("field, value", TASK_FIELDS, ids=shown)
def test_a_task_row_is_refused_or_encoded_as_the_full_check_does(
    dialect: str, field: str, value: Any
) -> None:
    task = step_task(**{field: value})
    expected = _without_times(full(lambda: _task_reference(task, dialect)))
    assert _without_times(full(lambda: tasks.checked_row(task, dialect)[1])) == expected
    assert _without_times(full(lambda: held.hold(task, {}, dialect).task)) == expected


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_plain_task_row_is_the_encoded_values(dialect: str) -> None:
    task = step_task()
    values, row = tasks.checked_row(task, dialect)
    assert row == tasks.COLUMNS.encode(values) == sql.encode("tasks", values)
    assert row == {
        **_task_reference(task, dialect),
        **{k: values[k] for k in ("started", "ended", "updated")},
    }
    assert _without_times(("ok", held.hold(task, {}, dialect).task)) == _without_times(("ok", row))


PARAMS: list[Any] = [
    *JSON_VALUES,
    [1, "two", 3.0],
    {"nested": {"key\x00": "v"}},
    True,
]


@pytest.mark.parametrize("value", PARAMS, ids=shown)
def test_a_parameter_is_refused_or_encoded_as_before(value: Any) -> None:
    def before() -> list[dict[str, Any]]:
        bounds.json_value(value, "task t: parameter 'Args/x'")
        text = params.encode_value("t", "Args/x", value)
        row = {
            "task_id": "t",
            "section": "Args",
            "name": "x",
            "value": text,
            "type": "int",
            "description": "",
        }
        bounds.check("params", row, "task t: parameter 'Args/x'")
        return [row]

    assert full(lambda: params.rows_of("t", {"Args/x": Param(value, "int")})) == full(before)


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"name": "a\x00b"},
        {"size": 2**63},
        {"size": True},
        {"metadata": {"k\x00": 1}},
        {"metadata": {"deep": nested(70)}},
        {"metadata": {"x": math.nan}},
        {"metadata": {1: "int key"}},
        {"metadata": {"s": {1}}},
        {"timestamp": math.inf},
        {"inline": None},
        {"file_name": None},
        {"hash": "h" * 129},
    ],
    ids=repr,
)
@pytest.mark.parametrize("dialect", DIALECTS)
def test_an_artifact_row_is_refused_or_encoded_as_before(dialect: str, changes: dict[str, Any]) -> None:
    record = ArtifactRecord(task_id="t" * 32, name="v", type="json", inline="1", metadata={"return": True})
    for name, value in changes.items():
        setattr(record, name, value)
    values = {name: getattr(record, name) for name in artifacts.FIELDS}
    expected = full(
        lambda: reference_row("artifacts", values, f"artifact {bounds.short(record.name)}", dialect)
    )
    assert full(lambda: artifacts._row(record, dialect)) == expected


@pytest.mark.parametrize(
    "changes",
    [{}, {"name": "n\x00"}, {"attempt": 2**31}, {"started": math.nan}, {"task_id": None}, {"message": 5}],
    ids=repr,
)
def test_a_node_row_is_refused_or_encoded_as_before(changes: dict[str, Any]) -> None:
    state = NodeState(run_id="r" * 32, name="n", status="running", task_id="t" * 32, started=1.0)
    for name, value in changes.items():
        setattr(state, name, value)
    values = {name: getattr(state, name) for name in nodes.FIELDS}
    expected = full(
        lambda: {
            **reference_row(
                "nodes", values, f"run {bounds.short(state.run_id)} node {bounds.short(state.name)}", ""
            ),
            "updated": 2.0,
        }
    )
    assert full(lambda: nodes._row(state, 2.0)) == expected


@pytest.mark.parametrize("table", sorted(bounds.TABLES))
@pytest.mark.parametrize("dialect", DIALECTS)
def test_fits_and_plain_rows_agree_with_the_full_check_on_every_table(table: str, dialect: str) -> None:
    # Each column of each table gets values of every kind: what the fast path passes, the full
    # check passes, and what it gives is what sql.encode gives.
    samples = [None, True, 0, 2**31, 2**63, 1.5, math.nan, "", "x\x00", "y" * 600, [], {}, ["\x00"], {"a": 1}]
    for name, column in bounds.columns(table).items():
        for value in samples:
            values = {name: value}
            if bounds.fits(table, values, dialect=dialect):
                bounds.value_fits(column, value, name, dialect)
            row = bounds.plain_row(table, values, dialect)
            if row is not None:
                bounds.value_fits(column, value, name, dialect)
                assert row == sql.encode(table, values) == reference_row(table, values, "w", dialect)


def _plain_value(column: Any) -> Any:
    """A value that plainly fits `column` (None for a kind without a plain test)."""
    if column.nullable or (column.kind == "any" and column.codec != "json"):
        return None
    if column.codec == "json":
        return {}
    return {"bool": False, "int": max(0, column.low), "float": 1.5}.get(column.kind, "")


@pytest.mark.parametrize("table", sorted(bounds.TABLES))
@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_whole_row_is_checked_as_a_partial_one(table: str, dialect: str) -> None:
    # A dict holding every column goes the subscript way; any other mapping the `get` way.
    # Each column of a row whose other values are plain gets values of every kind: both ways
    # agree, and what they pass the full check passes, encoded as sql.encode encodes it.
    known = bounds.columns(table)
    base = {name: _plain_value(column) for name, column in known.items()}
    samples = [None, True, 0, 2**31, 2**63, 1.5, math.nan, "", "x\x00", "y" * 600, [], {}, ["\x00"], {"a": 1}]
    for name, column in known.items():
        for value in samples:
            values = {**base, name: value}
            row = bounds.plain_row(table, values, dialect)
            assert row == bounds.plain_row(table, MappingProxyType(values), dialect)
            if row is not None:
                bounds.value_fits(column, value, name, dialect)
                assert row == sql.encode(table, values)
    assert bounds.plain_row(table, base, dialect) is not None or any(c.kind == "any" for c in known.values())


class Computed(NodeState):
    @property  # type: ignore[override]
    def message(self) -> str:
        return "computed"

    @message.setter
    def message(self, value: str) -> None:
        pass


def test_a_record_is_read_as_getattr_reads_it() -> None:
    fields = sql.Fields(NodeState, nodes.FIELDS)
    plain = NodeState(run_id="r", name="n")
    added = NodeState(run_id="r", name="n")
    added.extra = 1  # type: ignore[attr-defined]
    removed = NodeState(run_id="r", name="n", message="own")
    del removed.message  # getattr finds the class's default
    for record in (plain, added, removed, Computed(run_id="r", name="n", message="own")):
        expected = {name: getattr(record, name) for name in nodes.FIELDS}
        got = fields(record)
        assert got == expected and list(got) == list(nodes.FIELDS)
        got["name"] = "changed"
        assert record.name == "n"  # a copy
