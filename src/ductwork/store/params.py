"""Hyper-parameters (`Section/name` -> typed value) and configuration objects of a task.

A parameter's value is stored as its JSON text, so it comes back as the same Python type
(an int stays an int, a list a list, a dict a dict). Values JSON cannot carry are refused
with the parameter's name rather than silently turned into strings.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ductwork.core.errors import ValidationError
from ductwork.core.records import ConfigObject, Param
from ductwork.store import bounds
from ductwork.store.common import require_task, touch_writable_task, touch_writable_tasks
from ductwork.store.sql import Columns, Conn

_UPSERT_PARAM = Columns("params", ("task_id", "section", "name", "value", "type", "description")).upsert(
    ("task_id", "section", "name")
)
_UPSERT_CONFIG = Columns("configs", ("task_id", "name", "text", "type", "description")).upsert(
    ("task_id", "name")
)
_GET_PARAMS = (
    "SELECT section, name, value, type, description FROM params WHERE task_id = :task_id "
    "ORDER BY section, name"
)
_GET_CONFIGS = "SELECT name, text, type, description FROM configs WHERE task_id = :task_id ORDER BY name"


def split_key(key: str) -> tuple[str, str]:
    """`"Args/lr"` -> `("Args", "lr")`; a key without a section keeps an empty section."""
    if not isinstance(key, str) or not key or key.startswith("/") or key.endswith("/"):
        raise ValidationError(f"parameter key must look like 'Section/name', got {key!r}")
    section, slash, name = key.partition("/")
    return (section, name) if slash else ("", key)


def join_key(section: str, name: str) -> str:
    return f"{section}/{name}" if section else name


def encode_value(task_id: str, key: str, value: Any) -> str:
    try:
        return json.dumps(value, allow_nan=True)
    except (TypeError, ValueError) as error:
        raise ValidationError(
            f"task {task_id}: parameter {key!r} of type {type(value).__name__} cannot be stored "
            f"(store a str, number, bool, None, list or dict): {error}"
        ) from error


def set_params(conn: Conn, task_id: str, values: dict[str, Param], *, replace: bool) -> None:
    rows = rows_of(task_id, values)
    touch_writable_task(conn, task_id)
    if replace:
        conn.count("DELETE FROM params WHERE task_id = :task_id", {"task_id": task_id})
    conn.many(_UPSERT_PARAM, rows)


def set_many(conn: Conn, by_task: Mapping[str, dict[str, Param]]) -> None:
    """`set_params` (keeping the other parameters) for several tasks in one statement."""
    rows = [row for task_id, values in by_task.items() for row in rows_of(task_id, values)]
    touch_writable_tasks(conn, by_task)
    conn.many(_UPSERT_PARAM, rows)


def insert_rows(conn: Conn, rows: list[dict[str, Any]]) -> None:
    """New tasks' parameter rows, checked (`rows_of`), written in the transaction that creates
    those tasks: no other task to touch."""
    conn.many(_UPSERT_PARAM, rows)


def rows_of(task_id: str, values: dict[str, Param]) -> list[dict[str, Any]]:
    """The rows of `values`, each checked: a ValidationError names the parameter it refuses."""
    rows = []
    for key, param in values.items():
        if not isinstance(param, Param):
            raise ValidationError(
                f"task {task_id}: parameter {key!r} must be a Param, got {type(param).__name__}"
            )
        section, name = split_key(key)
        text = bounds.json_plain(param.value)  # checked and encoded at once, in C
        if text is bounds.NOT_PLAIN:  # the message is built only for a value that may be bad
            bounds.json_value(param.value, f"task {task_id}: parameter {bounds.short(key)}")
            text = encode_value(task_id, key, param.value)
        row = {
            "task_id": task_id,
            "section": section,
            "name": name,
            "value": text,
            "type": param.type,
            "description": param.description,
        }
        if not bounds.fits("params", row):
            bounds.check("params", row, f"task {task_id}: parameter {bounds.short(key)}")
        rows.append(row)
    return rows


def get_params(conn: Conn, task_id: str) -> dict[str, Param]:
    result = {
        join_key(section, name): Param(json.loads(value), kind, description)
        for section, name, value, kind, description in conn.rows(_GET_PARAMS, {"task_id": task_id})
    }
    if not result:
        require_task(conn, task_id)
    return result


def set_config(conn: Conn, task_id: str, name: str, config: ConfigObject) -> None:
    if not isinstance(name, str) or not name:
        raise ValidationError(f"task {task_id}: configuration name must be a non-empty string, got {name!r}")
    if not isinstance(config, ConfigObject) or not isinstance(config.text, str):
        raise ValidationError(f"task {task_id}: configuration {name!r} must be a ConfigObject with text")
    row = {
        "task_id": task_id,
        "name": name,
        "text": config.text,
        "type": config.type,
        "description": config.description,
    }
    bounds.check("configs", row, f"task {task_id}: configuration {bounds.short(name)}")
    touch_writable_task(conn, task_id)
    conn.count(_UPSERT_CONFIG, row)


def get_configs(conn: Conn, task_id: str) -> dict[str, ConfigObject]:
    result = {
        name: ConfigObject(text, kind, description)
        for name, text, kind, description in conn.rows(_GET_CONFIGS, {"task_id": task_id})
    }
    if not result:
        require_task(conn, task_id)
    return result
