"""Task queries: a `TaskQuery`'s filters checked against what the store can compare, as SQL."""

from __future__ import annotations

import re
from typing import Any

from ductwork.core.errors import ValidationError
from ductwork.core.queries import TaskQuery
from ductwork.core.records import TaskRecord
from ductwork.store import bounds
from ductwork.store.projects import check_name
from ductwork.store.sql import Conn, in_list
from ductwork.store.tasks import COLUMNS, FIELDS, records


def _check_query(q: TaskQuery) -> None:
    """Every filter within what the store can compare (one bad value is a 422, not a driver error)."""
    bounds.page(q.limit, q.offset, what="task query")
    for name in ("ids", "status", "type", "tags", "system_tags"):
        value = getattr(q, name)
        if value is not None:
            bounds.strings(value, f"task query: {name}", 1024)
    for name in ("id_prefix", "project", "project_name", "name", "name_pattern", "parent", "order_by"):
        value = getattr(q, name)
        if value is not None:
            bounds.text(value, f"task query: {name}", 4096)
    if q.runtime is not None:
        if not isinstance(q.runtime, dict) or len(q.runtime) > bounds.MAX_LIST:
            raise ValidationError("task query: runtime must be a dict of a few properties")
        for key, value in q.runtime.items():
            bounds.text(key, "task query: runtime key", 512)
            if isinstance(value, int) and not isinstance(value, bool):
                bounds.integer(value, f"task query: runtime {bounds.short(key)}")
            elif isinstance(value, str):
                bounds.text(value, f"task query: runtime {bounds.short(key)}")
            elif isinstance(value, float):
                bounds.number(value, f"task query: runtime {bounds.short(key)}")


def _where(conn: Conn, q: TaskQuery, params: dict[str, Any]) -> str:
    """The WHERE clause of `q` (" WHERE ..." or ""), its values put into `params`."""
    _check_query(q)
    where: list[str] = []

    def equals(column: str, value: Any) -> None:
        params[column] = value
        where.append(f"{column} = :{column}")

    if q.ids is not None:
        where.append(f"id IN {in_list('id', q.ids, params)}")
    if q.id_prefix is not None:  # the CLI's unique id prefixes
        params["id_prefix"] = q.id_prefix.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"
        where.append("id LIKE :id_prefix ESCAPE '/'")
    if q.project is not None:
        equals("project", q.project)
    if q.project_name is not None:
        name = check_name(q.project_name)
        params["project_name"] = name
        match = "name = :project_name"
        if q.include_subprojects:
            escaped = name.replace("/", "//").replace("%", "/%").replace("_", "/_")
            params["project_prefix"] = escaped + "//%"
            match += " OR name LIKE :project_prefix ESCAPE '/'"
        where.append(f"project IN (SELECT id FROM projects WHERE {match})")
    if q.name is not None:
        equals("name", q.name)
    if q.name_pattern is not None:
        try:
            re.compile(q.name_pattern)
        except re.error as error:
            raise ValidationError(f"name_pattern {q.name_pattern!r} is not a valid regex: {error}") from error
        params["name_pattern"] = q.name_pattern
        where.append("name ~ :name_pattern" if conn.pg else "name REGEXP :name_pattern")
    if q.status is not None:
        where.append(f"status IN {in_list('status', q.status, params)}")
    if q.type is not None:
        where.append(f"type IN {in_list('type', q.type, params)}")
    if q.parent is not None:
        equals("parent", q.parent)
    if q.archived is not None:
        equals("archived", bool(q.archived))
    for column, wanted in (("tasks.tags", q.tags), ("tasks.system_tags", q.system_tags)):
        for tag in wanted or ():
            key = f"tag_{len(params)}"
            negate = tag.startswith("-")
            params[key] = conn.tag_param(tag[1:] if negate else tag)
            where.append(("NOT " if negate else "") + conn.has_tag(column, key))
    for key, value in (q.runtime or {}).items():
        where.append(_runtime_equals(conn, key, value, params))
    return " WHERE " + " AND ".join(f"({w})" for w in where) if where else ""


_CASTS = ((bool, "BOOLEAN"), (int, "INTEGER"), (float, "FLOAT"), (str, "VARCHAR"))


def _runtime_equals(conn: Conn, key: str, value: Any, params: dict[str, Any]) -> str:
    if key == "cache_key" and isinstance(value, str):
        params["runtime_cache_key"] = value
        return "cache_key = :runtime_cache_key"
    path, wanted = f"path_{len(params)}", f"value_{len(params)}"
    params[path] = conn.json_path(key)
    if value is None:
        return f"{conn.json_field('runtime', path, 'VARCHAR')} IS NULL"
    for kind, cast in _CASTS:
        if isinstance(value, kind):
            params[wanted] = value
            if kind is bool and not conn.pg:
                params[wanted] = int(value)  # SQLite has no boolean: true is 1
            return f"{conn.json_field('runtime', path, cast)} = :{wanted}"
    raise ValidationError(f"runtime filter {key!r}: only str, int, float, bool or None, got {value!r}")


def _order(order_by: str) -> str:
    name = order_by.lstrip("-+")
    if name not in FIELDS:
        raise ValidationError(f"cannot order tasks by {order_by!r}; use one of {', '.join(FIELDS)}")
    return f'"{name}" DESC' if order_by.startswith("-") else f'"{name}" ASC'


def query(conn: Conn, q: TaskQuery) -> list[TaskRecord]:
    params: dict[str, Any] = {}
    where = _where(conn, q, params)
    text = f"SELECT {COLUMNS.sql} FROM tasks{where} ORDER BY {_order(q.order_by)}, id"
    return records(conn, text + conn.limit(q.limit, q.offset or 0), params)


def count(conn: Conn, q: TaskQuery) -> int:
    params: dict[str, Any] = {}
    return int(conn.scalar(f"SELECT COUNT(*) FROM tasks{_where(conn, q, params)}", params))
