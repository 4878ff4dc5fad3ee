"""Argument checks shared by the Task API: each failure is a ValidationError naming the argument."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ductwork.core.errors import ValidationError
from ductwork.core.records import TaskTypes


def require_str(what: str, value: object) -> None:
    as_str(what, value)


def as_str(what: str, value: object) -> str:
    """`value`, which must be a str (a ValidationError naming `what` otherwise)."""
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be a str, got {type(value).__name__} ({value!r})")
    return value


def optional_str(what: str, value: object) -> None:
    if value is not None:
        require_str(what, value)


def str_list(what: str, values: object) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise ValidationError(f"{what} must be a list of str, got {type(values).__name__} ({values!r})")
    result = list(values)
    for value in result:
        if not isinstance(value, str):
            raise ValidationError(f"{what} must be a list of str; {value!r} is a {type(value).__name__}")
    return result


def check_type(task_type: object) -> None:
    if task_type not in TaskTypes.all():
        raise ValidationError(f"task_type must be one of {TaskTypes.all()}, got {task_type!r}")


def output_uri_of(value: object) -> str | None:
    if value is None or value is False or value is True:
        return None  # True: the default artifact storage
    if isinstance(value, Path):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"output_uri must be a URL, a path or a bool, got {value!r}")
    return value


def task_id_of(what: str, task: object) -> str:
    """The id of a Task, or the str given as one."""
    if isinstance(task, str) and task:
        return task
    task_id = getattr(task, "id", None) if hasattr(task, "_record") else None
    if isinstance(task_id, str):
        return task_id
    raise ValidationError(f"{what} must be a Task or a task id, got {type(task).__name__} ({task!r})")
