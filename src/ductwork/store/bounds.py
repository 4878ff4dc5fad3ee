"""What the columns can hold, checked before a write: a value outside is a ValidationError
that names the field, never a driver error.

The bounds come from the tables themselves (`tables.py`, through `schema.py`), so a column that changes type
or length changes its bound too:

* `Integer` is 32-bit on PostgreSQL and `BigInteger` 64-bit; SQLite takes 64 bits at most.
* `String(n)` holds n characters (PostgreSQL enforces it; SQLite would not, so we do).
* `Text` holds up to `MAX_TEXT` characters (a sane ceiling; both databases could hold more).
* No string anywhere may hold a NUL: PostgreSQL `text` and `jsonb` cannot.
* JSON values nest at most `MAX_DEPTH` deep, hold at most `MAX_ITEMS` values, and (on
  PostgreSQL, whose `jsonb` has no NaN) only finite numbers.
* Times are finite numbers (SQLite would store a NaN as NULL).

    bounds.check("tasks", {"name": name, "progress": 2**40}, "task 0a1b...")
    -> ValidationError: task 0a1b...: progress must be between -2147483648 and 2147483647

Most rows are plain, and a debug step writes several: `plain_row` checks and encodes such a
row in one pass (a JSON column through its text, `json_plain`) and passes only what the full
check passes; anything else goes to the full check (`check`, `value_fits`), which decides and
names the field, and to `sql.encode`.
"""

from __future__ import annotations

import functools
import json.encoder
import math
from collections.abc import Callable, Mapping
from typing import Any

from ductwork.core.errors import ValidationError
from ductwork.store.schema import INT32, INT64, MAX_TEXT, TABLES, Column
from ductwork.store.sql import encode, json_text

__all__ = ["INT32", "INT64", "MAX_TEXT", "Column"]

MAX_DEPTH = 64  # nesting of a JSON value
MAX_ITEMS = 1_000_000  # values in one JSON column
MAX_LIST = 10_000  # ids, names or tags in one filter or lookup
MAX_PAGE = 1_000_000  # rows one query may ask for


def columns(table: str) -> dict[str, Column]:
    return TABLES[table]


def check(table: str, values: Mapping[str, Any], where: str, *, dialect: str = "") -> None:
    """ValidationError `"<where>: <field> ..."` for the first value its column cannot hold.

    Keys that are not columns of `table` are left to the caller (they are not stored)."""
    if fits(table, values, dialect=dialect):
        return  # the usual case: no message built for each field
    _check_each(table, values, where, dialect)


def _check_each(table: str, values: Mapping[str, Any], where: str, dialect: str) -> None:
    """`check` without its quick pass: each value against its column, naming the field."""
    known = columns(table)
    for name, value in values.items():
        column = known.get(name)
        if column is not None:
            value_fits(column, value, f"{where}: {name}", dialect)


def fits(table: str, values: Mapping[str, Any], *, dialect: str = "") -> bool:
    """Whether every value plainly fits its column of `table`: False sends the caller to
    `check`, which decides and names the field (so a message is built only when needed)."""
    return plain_row(table, values, dialect) is not None


def encoded(
    table: str, values: Mapping[str, Any], where: Callable[[], str], *, dialect: str = ""
) -> dict[str, Any]:
    """`check` then `sql.encode`: the row to write, JSON columns as text, or a ValidationError
    `"<where()>: <field> ..."`. The usual row, whose values all plainly fit, is checked and
    encoded in one pass (`plain_row`); any other takes `check` and `sql.encode` as they are."""
    row = plain_row(table, values, dialect)
    if row is None:  # the quick pass said no: each value is looked at, naming the field
        _check_each(table, values, where(), dialect)
        row = encode(table, dict(values))
    return row


def plain_row(table: str, values: Mapping[str, Any], dialect: str = "") -> dict[str, Any] | None:
    """`values` as `sql.encode` gives them (JSON columns as text) when each plainly fits its
    column, else None: only then may the full check (`value_fits`) refuse one. Keys that are
    not columns of `table` are copied as they are."""
    return _plain_rows(table, dialect == "postgresql")(values)


NOT_PLAIN: Any = object()  # a value only the full check (`value_fits`) may pass or name
_MISSING = object()


@functools.cache
def _plain_rows(table: str, finite: bool) -> Callable[[Mapping[str, Any]], dict[str, Any] | None]:
    """`plain_row` for `table`, a function written out for its columns: each column's test is
    an expression in its body, for a task's 27 columns, rather than a call a column (most of
    the check's cost when it was one) or a look at the column's kind for every value. `finite`:
    JSON for PostgreSQL (jsonb has no NaN). Each test passes only what `value_fits` passes.

    Two are written: for a dict that holds every column (a new row, the usual case), reading
    each value by subscript, and for the rest (some columns, another kind of mapping):

        v = values['progress']                          v = get('progress', MISSING)
        if not (type(v) is int and ...):                if v is not MISSING and not (...):
            return None                                     return None
    """
    space: dict[str, Any] = {"MISSING": _MISSING, "NOT_PLAIN": NOT_PLAIN, "INF": math.inf}
    whole = ["def plain_row(values):", "    if type(values) is not dict:", "        return partial(values)"]
    whole += ["    row = dict(values)", "    try:"]
    partial = ["def partial(values):", "    row = dict(values)", "    get = values.get"]
    for i, (name, column) in enumerate(columns(table).items()):
        whole.append(f"        v = values[{name!r}]")
        partial.append(f"    v = get({name!r}, MISSING)")
        if column.codec == "json":
            space[f"json_{i}"] = _to_json(column, finite)
            fits = [f"v = json_{i}(v)", "if v is NOT_PLAIN:", "    return None", f"row[{name!r}] = v"]
            whole += ["        " + line for line in fits]
            partial += ["    if v is not MISSING:", *("        " + line for line in fits)]
        else:
            test = _plainly(column)
            whole += [f"        if not ({test}):", "            return None"]
            partial += [f"    if v is not MISSING and not ({test}):", "        return None"]
    whole += [
        "    except KeyError:  # a column it does not hold",
        "        return partial(values)",
        "    return row",
    ]
    partial.append("    return row")
    exec("\n".join(partial), space)  # names and bounds from schema.py: no text from outside
    exec("\n".join(whole), space)
    return space["plain_row"]  # type: ignore[no-any-return]


def _plainly(column: Column) -> str:
    """The test of a value `v` that plainly fits `column` (not JSON), as Python text."""
    kind = column.kind
    if kind in ("str", "text"):
        test = f'type(v) is str and len(v) <= {column.high!r} and "\\x00" not in v'
    elif kind == "int":  # not a bool
        test = f"type(v) is int and {column.low!r} <= v <= {column.high!r}"
    elif kind == "float":  # a NaN compares false
        test = "type(v) is float and -INF < v < INF" if column.finite else "type(v) is float"
    elif kind == "bool":
        test = "type(v) is bool"
    else:
        test = "False"  # a kind without a plain test: the full check decides
    return f"v is None or {test}" if column.nullable else test


def _to_json(column: Column, finite: bool) -> Callable[[Any], Any]:
    """What a JSON column stores of a value (`sql.encode`'s text) when it plainly fits, else
    NOT_PLAIN."""
    absent = None if column.nullable else NOT_PLAIN  # what a None gives

    def to_json(value: Any) -> Any:
        shape = type(value)
        if shape is dict or shape is list:
            if not value:  # most of a task's JSON fields are empty
                return "{}" if shape is dict else "[]"
        elif value is None:
            return absent
        return json_plain(value, finite=finite)

    return to_json


# A JSON text this long or shorter holds no string longer than MAX_TEXT and no more than
# MAX_ITEMS values (each value takes a character at least).
_PLAIN_TEXT = min(MAX_TEXT, MAX_ITEMS)


def json_plain(value: Any, *, finite: bool = False) -> Any:
    """`json.dumps(value)` when `json_value` passes `value` plainly, else NOT_PLAIN.

    Checked through its text, in C: json.dumps writes a NUL of any string or key as `\\u0000`
    (ensure_ascii), so the text holds that wherever a string does; a text of at most
    `_PLAIN_TEXT` characters bounds every string and the count of values; each list or dict
    opens with one `[` or `{`, so a text with at most MAX_DEPTH of them nests no container
    MAX_DEPTH deep; with `finite` a NaN or infinity makes the encoder raise. A string may hold
    those characters too (a literal backslash and `u0000`, code with brackets): a text that
    does not pass is walked (`json_fits`), and its text kept when the walk passes."""
    kind = type(value)
    if kind is int:  # most parameters: an int or a string, whose text needs no looking at
        return _int_text(value)
    if kind is str:
        return _ascii_text(value) if len(value) <= MAX_TEXT and "\x00" not in value else NOT_PLAIN
    text = json_text(value, finite=finite)
    if text is None:
        return NOT_PLAIN  # json.dumps would raise: `json_value` first, as before
    if (
        len(text) > _PLAIN_TEXT or "\\u0000" in text or text.count("[") + text.count("{") > MAX_DEPTH
    ) and not json_fits(value, finite=finite):
        return NOT_PLAIN
    return text


def _int_text(value: int) -> Any:
    try:
        return int.__repr__(value)  # what json.dumps writes for an int
    except ValueError:  # past Python's digits for a text: json.dumps refuses it too
        return NOT_PLAIN


_ascii_text = json.encoder.encode_basestring_ascii  # json.dumps of a str


def json_fits(value: Any, *, finite: bool = False) -> bool:
    """`json_value`'s checks without the paths it names: True when nothing is wrong."""
    kind = type(value)
    if kind is str:  # most values are one scalar (a parameter): no walk
        return "\x00" not in value and len(value) <= MAX_TEXT
    if kind is int or kind is bool or value is None:
        return True
    count = 0
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        count += 1
        kind = type(item)
        if kind is str:
            if "\x00" in item or len(item) > MAX_TEXT:
                return False
        elif kind is dict:
            if depth >= MAX_DEPTH:
                return False
            for key, member in item.items():
                if type(key) is not str or "\x00" in key or len(key) > MAX_TEXT:
                    return False  # a key that is not a string: the full check decides
                pending.append((member, depth + 1))
        elif kind is list or kind is tuple:
            if depth >= MAX_DEPTH:
                return False
            pending.extend((member, depth + 1) for member in item)
        elif kind is float:
            if finite and not math.isfinite(item):
                return False
        elif not (kind is int or kind is bool or item is None):
            return False  # anything else: the full check says what it makes of it
    return count <= MAX_ITEMS


def check_record(table: str, record: object, where: str, *, dialect: str = "") -> None:
    """`check` on the fields of a record (a dataclass) that are columns of `table`."""
    known = columns(table)
    for name, column in known.items():
        if hasattr(record, name):
            value_fits(column, getattr(record, name), f"{where}: {name}", dialect)


def value_fits(column: Column, value: Any, field: str, dialect: str = "") -> None:
    if value is None:
        if not column.nullable:
            raise ValidationError(f"{field} is required (got null)")
        return
    kind = column.kind
    if kind == "int":
        integer(value, field, column.low, column.high)
    elif kind in ("str", "text"):
        text(value, field, column.high)
    elif kind == "float":
        number(value, field, finite=column.finite)
    elif kind == "bool":
        if not isinstance(value, bool):
            raise ValidationError(f"{field} must be true or false, got {short(value)}")
    elif column.codec == "json":
        json_value(value, field, finite=dialect == "postgresql")


def integer(value: Any, field: str, low: int = INT64[0], high: int = INT64[1]) -> int:
    # A bool is an int to Python but not to JSON: refused here as over HTTP (services/jsontypes.py).
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValidationError(f"{field} must be an integer, got {short(value)}")
    if not low <= value <= high:
        raise ValidationError(f"{field} must be between {low} and {high}, got {short(value)}")
    return value


def text(value: Any, field: str, length: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string, got {short(value)}")
    if len(value) > length:
        raise ValidationError(f"{field} is too long: {len(value)} characters, at most {length}")
    if "\x00" in value:
        raise ValidationError(f"{field} contains a NUL character, which the store cannot hold")
    return value


def number(value: Any, field: str, *, finite: bool = True) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ValidationError(f"{field} must be a number, got {short(value)}")
    try:
        as_float = float(value)
    except OverflowError:
        raise ValidationError(f"{field} is too large for a float, got {short(value)}") from None
    if finite and not math.isfinite(as_float):
        raise ValidationError(f"{field} must be a finite number, got {short(value)}")
    return as_float


def json_value(value: Any, field: str, *, finite: bool = False) -> None:
    """A JSON column's value: no NUL in any string or key, bounded depth and size; with
    `finite` (PostgreSQL jsonb) no NaN or infinity."""
    count = 0
    # (value, depth, path) without recursion, so a deep value cannot exhaust the stack
    pending: list[tuple[Any, int, str]] = [(value, 0, field)]
    while pending:
        item, depth, path = pending.pop()
        count += 1
        if count > MAX_ITEMS:
            raise ValidationError(f"{field} holds more than {MAX_ITEMS} values")
        if isinstance(item, str):
            text(item, path)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            continue  # JSON numbers of any size are stored as text (SQLite) or numeric (jsonb)
        elif isinstance(item, float):
            if finite and not math.isfinite(item):
                raise ValidationError(f"{path} must be a finite number, got {item}")
        elif isinstance(item, Mapping):
            if depth >= MAX_DEPTH:
                raise ValidationError(f"{field} nests deeper than {MAX_DEPTH} levels")
            for key, member in item.items():
                if not isinstance(key, str):
                    continue  # json.dumps turns numbers into keys; other keys fail there
                text(key, f"{path} key {short(key)}")
                pending.append((member, depth + 1, f"{path}.{short(key, 40)}"))
        elif isinstance(item, (list, tuple)):
            if depth >= MAX_DEPTH:
                raise ValidationError(f"{field} nests deeper than {MAX_DEPTH} levels")
            pending.extend((member, depth + 1, f"{path}[{i}]") for i, member in enumerate(item))


def strings(values: Any, field: str, length: int, *, most: int = MAX_LIST) -> list[str]:
    """A list of at most `most` strings, each within `length` characters."""
    if not isinstance(values, (list, tuple, set, frozenset)):
        raise ValidationError(f"{field} must be a list of strings, got {short(values)}")
    if len(values) > most:
        raise ValidationError(f"{field} holds {len(values)} values, at most {most}")
    for i, value in enumerate(values):
        text(value, f"{field}[{i}]", length)
    return list(values)


def page(limit: Any, offset: Any = 0, *, what: str = "query") -> None:
    """`limit` (None: all) within 0..MAX_PAGE and `offset` within 0..int64."""
    if limit is not None:
        integer(limit, f"{what}: limit", 0, MAX_PAGE)
    if offset is not None:
        integer(offset, f"{what}: offset", 0, INT64[1])


def short(value: Any, most: int = 60) -> str:
    """A value as it may appear in a message: never its whole 10 MB, never a 5,000-digit int."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        return f"an integer of {value.bit_length()} bits" if value.bit_length() > 128 else str(value)
    if isinstance(value, str):
        return repr(value[:most]) + ("..." if len(value) > most else "")
    if isinstance(value, (list, tuple, dict, set, frozenset)) and len(value) > 8:
        return f"a {type(value).__name__} of {len(value)} items"
    shown = repr(value)
    return shown if len(shown) <= most else shown[:most] + "..."
