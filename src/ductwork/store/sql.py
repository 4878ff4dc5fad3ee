"""Plain SQL over DB-API: the one way the store's queries reach sqlite3 or psycopg 3.

Queries are written once, with `:name` parameters; on PostgreSQL they are rewritten (once
per text) to psycopg's `%(name)s`; a statement made for many rows (`Conn.many`) gets
positional parameters instead, each row bound as a tuple. Rows read are plain tuples. Values
travel as the schema says (`schema.py`, derived from `tables.py`): JSON columns as JSON text on
SQLite and jsonb on PostgreSQL, booleans as 0/1 on SQLite; `Columns` turns rows back into
Python values.

    conn.first("SELECT status FROM tasks WHERE id = :id", {"id": task_id})

What differs between the two databases is said here once: `for_update`, `has_tag`,
`json_field`, `in_list`, and the integrity errors every query module turns into NotFound
or Conflict (`IntegrityError`).
"""

from __future__ import annotations

import functools
import json
import sqlite3
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any

from ductwork.core import jsontext
from ductwork.core.patterns import Pattern
from ductwork.store.schema import TABLES

Params = Mapping[str, Any]
_PARAM = Pattern(r"(?<![:\w]):([A-Za-z_]\w*)")
_pg_texts: dict[str, str] = {}


def pg_text(text: str) -> str:
    """`:name` -> `%(name)s` (and a literal `%` doubled), cached per query text."""
    done = _pg_texts.get(text)
    if done is None:
        done = _pg_texts[text] = _PARAM.sub(r"%(\1)s", text.replace("%", "%%"))
    return done


def positional(text: str, pg: bool) -> tuple[str, Callable[[Params], tuple[Any, ...]]]:
    """`text` with positional parameters (`?`, psycopg's `%s`), and what makes a row's values
    in their order; cached per text. Bound by name, sqlite3 makes a string of each name and
    looks it up, for each value of each row: most of a bulk insert's cost outside SQLite."""
    done = _positional.get((text, pg))
    if done is None:
        names = _PARAM.findall(text)
        marked = _PARAM.sub("%s", text.replace("%", "%%")) if pg else _PARAM.sub("?", text)
        values: Callable[[Params], tuple[Any, ...]]
        if len(names) > 1:
            values = itemgetter(*names)
        elif names:
            values = functools.partial(_one, names[0])
        else:
            values = _none
        done = _positional[(text, pg)] = (marked, values)
    return done


_positional: dict[tuple[str, bool], tuple[str, Callable[[Params], tuple[Any, ...]]]] = {}


def _one(name: str, row: Params) -> tuple[Any, ...]:
    return (row[name],)


def _none(row: Params) -> tuple[Any, ...]:
    return ()


class IntegrityError(Exception):
    """A constraint refused a write (unique, foreign key, not null); `orig` is the driver's error."""

    def __init__(self, orig: Exception) -> None:
        super().__init__(str(orig))
        self.orig = orig

    @property
    def foreign_key(self) -> bool:
        code = getattr(self.orig, "sqlstate", None)
        if code is not None:
            return bool(code == "23503")
        return "FOREIGN KEY" in str(self.orig)

    @property
    def unique(self) -> bool:
        code = getattr(self.orig, "sqlstate", None)
        if code is not None:
            return bool(code == "23505")
        return "UNIQUE" in str(self.orig) or "PRIMARY KEY" in str(self.orig)


def _integrity_errors() -> tuple[type[Exception], ...]:
    psycopg = sys.modules.get("psycopg")
    if psycopg is None:
        return (sqlite3.IntegrityError,)
    return (sqlite3.IntegrityError, psycopg.IntegrityError)


class Conn:
    """One DB-API connection inside one transaction (the `Database` opens and ends it)."""

    def __init__(self, raw: Any, dialect: str) -> None:
        self.raw = raw
        self.dialect = dialect
        self.pg = dialect == "postgresql"
        # Tasks this transaction created (`held.write`): writable, `updated` just set, so a
        # write to them has no row of theirs to touch.
        self.fresh: set[str] = set()

    def execute(self, text: str, params: Params | None = None) -> Any:
        """Run one statement; the cursor (its `rowcount`, its rows)."""
        cursor = self.raw.cursor()
        try:
            if self.pg:
                cursor.execute(pg_text(text), params or {})
            else:
                cursor.execute(text, params or ())
        except _integrity_errors() as error:
            cursor.close()
            raise IntegrityError(error) from error
        return cursor

    def many(self, text: str, rows: Sequence[Params]) -> None:
        """One statement for each of `rows` (executemany)."""
        if not rows:
            return
        marked, values = positional(text, self.pg)
        try:
            bound: Sequence[Any] = list(map(values, rows))
        except KeyError:  # a row without one of its names: bound by name, the driver says which
            marked, bound = (pg_text(text) if self.pg else text), rows
        cursor = self.raw.cursor()
        try:
            cursor.executemany(marked, bound)
        except _integrity_errors() as error:
            raise IntegrityError(error) from error
        finally:
            cursor.close()

    def rows(self, text: str, params: Params | None = None) -> list[tuple[Any, ...]]:
        cursor = self.execute(text, params)
        try:
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def first(self, text: str, params: Params | None = None) -> tuple[Any, ...] | None:
        cursor = self.execute(text, params)
        try:
            row = cursor.fetchone()
            return None if row is None else tuple(row)
        finally:
            cursor.close()

    def scalar(self, text: str, params: Params | None = None) -> Any:
        row = self.first(text, params)
        return None if row is None else row[0]

    def count(self, text: str, params: Params | None = None) -> int:
        """Rows an UPDATE or DELETE changed."""
        cursor = self.execute(text, params)
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()

    # what differs between the databases

    def for_update(self, text: str) -> str:
        """A row lock on PostgreSQL; on SQLite the `BEGIN IMMEDIATE` of the write serialises."""
        return text + " FOR UPDATE" if self.pg else text

    def has_tag(self, column: str, param: str) -> str:
        """The JSON list `column` holds the string parameter `param` (see `tag_param`)."""
        if self.pg:
            return f"{column} @> CAST(:{param} AS jsonb)"
        return f"EXISTS (SELECT 1 FROM json_each({column}) WHERE json_each.value = :{param})"

    def tag_param(self, tag: str) -> str:
        return json.dumps([tag]) if self.pg else tag

    def json_field(self, column: str, param: str, cast: str) -> str:
        """The member named by parameter `param` of JSON `column`, as SQL type `cast`
        (`json_path` gives the parameter's value)."""
        if self.pg:
            return f"CAST(({column} ->> CAST(:{param} AS TEXT)) AS {cast})"
        return f"CAST(JSON_EXTRACT({column}, :{param}) AS {cast})"

    def json_path(self, key: str) -> str:
        return key if self.pg else f'$."{key}"'

    def limit(self, limit: int | None, offset: int = 0) -> str:
        if offset:
            most = str(limit) if limit is not None else ("ALL" if self.pg else "-1")
            return f" LIMIT {most} OFFSET {int(offset)}"
        return f" LIMIT {int(limit)}" if limit is not None else ""


def in_list(name: str, values: Iterable[Any], params: dict[str, Any]) -> str:
    """`(:name_0, :name_1, ...)` for an IN, the values put into `params`."""
    names = []
    for i, value in enumerate(values):
        key = f"{name}_{i}"
        params[key] = value
        names.append(f":{key}")
    return f"({', '.join(names)})" if names else "(NULL)"


def quote(name: str) -> str:
    return f'"{name}"'


class Columns:
    """Some columns of one table, in order: their SQL list, and the codecs of their values."""

    def __init__(self, table: str, names: Sequence[str], prefix: str = "") -> None:
        known = TABLES[table]
        self.table = table
        self.names = tuple(names)
        self.sql = ", ".join(f"{prefix}{quote(name)}" for name in self.names)
        self.params = ", ".join(f":{name}" for name in self.names)
        self._json = tuple(i for i, name in enumerate(self.names) if known[name].codec == "json")
        self._bool = tuple(i for i, name in enumerate(self.names) if known[name].codec == "bool")
        self._json_names = tuple(self.names[i] for i in self._json)

    def decode(self, conn: Conn, row: Sequence[Any]) -> list[Any]:
        """A row as Python values: JSON text parsed (SQLite), 0/1 as bools."""
        values = list(row)
        if not conn.pg:
            for i in self._json:
                if values[i] is not None:
                    values[i] = json.loads(values[i])
        for i in self._bool:
            if values[i] is not None:
                values[i] = bool(values[i])
        return values

    def decode_all(self, conn: Conn, rows: Iterable[Sequence[Any]]) -> Iterator[list[Any]]:
        return (self.decode(conn, row) for row in rows)

    def encode(self, values: dict[str, Any]) -> dict[str, Any]:
        """Parameters for these columns: JSON values as JSON text (None stays NULL)."""
        return encode(self.table, values)

    def insert(self) -> str:
        return f"INSERT INTO {self.table} ({self.sql}) VALUES ({self.params})"

    def upsert(self, keys: Sequence[str]) -> str:
        """INSERT ... ON CONFLICT (keys) DO UPDATE SET every other column to the new value."""
        sets = ", ".join(f"{quote(n)} = excluded.{quote(n)}" for n in self.names if n not in keys)
        return f"{self.insert()} ON CONFLICT ({', '.join(map(quote, keys))}) DO UPDATE SET {sets}"


class Fields:
    """The fields `names` of a record (a dataclass `kind`) as a dict, as `getattr` reads them.

    A record of that very class holds them in its `__dict__`: when it holds those and no
    others (none deleted, none added), a copy of it is the answer, in C; else (a subclass,
    which might compute one) each is read with `getattr`."""

    def __init__(self, kind: type, names: Sequence[str]) -> None:
        self.kind = kind
        self.names = tuple(names)
        self._own = frozenset(self.names)

    def __call__(self, record: object) -> dict[str, Any]:
        if type(record) is self.kind:
            own = record.__dict__
            if own.keys() == self._own:
                return own.copy()
        return {name: getattr(record, name) for name in self.names}


def encode(table: str, values: dict[str, Any]) -> dict[str, Any]:
    """`values` (column -> value) as parameters: JSON columns as JSON text, None stays NULL."""
    out = dict(values)
    for name in _json_columns(table):
        value = out.get(name)
        if value is None:
            continue
        kind = type(value)
        if not value and (kind is dict or kind is list):  # most of a task's JSON columns
            out[name] = "{}" if kind is dict else "[]"
        else:
            text = json_text(value)
            out[name] = json.dumps(value) if text is None else text  # json.dumps says what is wrong
    return out


def json_text(value: Any, *, finite: bool = False) -> str | None:
    """`json.dumps(value)` (with `finite`, `allow_nan=False`), or None where json.dumps would
    raise (and where a value holds itself: without json.dumps' circular check it fails on depth).
    Its encoder is made once (`jsontext`), not at each call as json.dumps makes one."""
    encode = _ENCODERS.get(finite)
    if encode is None:
        encode = _ENCODERS[finite] = jsontext.encoder(allow_nan=not finite)
    try:
        return encode(value)
    except Exception:  # anything json.dumps would raise: the caller's full path decides
        return None


_ENCODERS: dict[bool, jsontext.Encode] = {}  # by `finite`, made at first use


@functools.cache
def _json_columns(table: str) -> tuple[str, ...]:
    return tuple(name for name, column in TABLES[table].items() if column.codec == "json")


def sets(names: Iterable[str]) -> str:
    """`"a" = :a, "b" = :b` for an UPDATE."""
    return ", ".join(f"{quote(name)} = :{name}" for name in names)
