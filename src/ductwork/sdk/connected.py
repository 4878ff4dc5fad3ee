"""Connected values: a dict, an argparse Namespace or an object tied to a task's parameters.

Running locally, connected values are written to the task. Run by an agent or a pipeline
(`task._remote`), the task's stored values are read back over the local ones, cast to the local
types, so an int stays an int and a list a list. `Task.connect` and the argparse capture both
come here with the task's core.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ductwork.core.errors import ValidationError
from ductwork.core.records import Param
from ductwork.sdk import params
from ductwork.sdk.taskcore import TaskCore

if TYPE_CHECKING:
    import argparse

# Reads an argument's text as its parser would (argparse's `type=`): how a stored value that
# has no local value to copy the type of is cast back.
Reader = Callable[[str], object]


def connect_dict(
    task: TaskCore, values: dict[str, Any], section: str, keep_local: bool = False
) -> ConnectedDict:
    flat = params.flatten(values)
    merged = sync(task, section, flat, {}, keep_local)
    if merged != flat:
        values.clear()
        values.update(params.unflatten(merged))
    return ConnectedDict(task, section, values)


def connect_namespace(
    task: TaskCore,
    namespace: argparse.Namespace,
    section: str,
    types: Mapping[str, Reader],
    keep_local: bool = False,
) -> None:
    local = {key: value for key, value in vars(namespace).items() if not key.startswith("_")}
    for key, value in sync(task, section, local, types, keep_local).items():
        setattr(namespace, key, value)


def connect_object(task: TaskCore, obj: object, section: str, keep_local: bool = False) -> None:
    local = _public_attributes(obj)
    for key, value in sync(task, section, local, {}, keep_local).items():
        if local.get(key, _NOTHING) is not value:
            setattr(obj, key, value)


def sync(
    task: TaskCore,
    section: str,
    local: dict[str, Any],
    types: Mapping[str, Reader],
    keep_local: bool,
) -> dict[str, Any]:
    """Write `local` (running locally) or read the section back over it (run remotely)."""
    if not task._remote or keep_local:
        write_params(task, {f"{section}/{key}": params.to_param(value) for key, value in local.items()})
        return local
    stored = {
        key.partition("/")[2]: param
        for key, param in task._backend.get_parameters(task.id).items()
        if key.partition("/")[0] == section
    }
    merged = dict(local)
    for key, param in stored.items():
        merged[key] = _read_back(param, local.get(key), types.get(key), f"{section}/{key}")
    missing = {
        f"{section}/{key}": params.to_param(value) for key, value in local.items() if key not in stored
    }
    if missing:
        write_params(task, missing)
    return merged


def _read_back(param: Param, template: object, reader: Reader | None, label: str) -> object:
    """A stored value as the local code expects it: of the local value's type, else read by
    the argument's parser, else of its stored type."""
    if template is None and isinstance(param.value, str) and reader is not None:
        try:
            return reader(param.value)
        except Exception as exc:
            raise ValidationError(f"{label}: cannot read {param.value!r}: {exc}") from None
    if template is None:
        return params.cast_param(param, name=label)
    return params.cast_like(param.value, template, name=label)


def write_params(task: TaskCore, values: dict[str, Param], *, replace: bool = False) -> None:
    for key, param in values.items():
        # PostgreSQL text cannot hold NUL (the value itself is JSON, where it is escaped).
        for what, text in (("name", key), ("description", param.description), ("type", param.type)):
            if isinstance(text, str) and "\x00" in text:
                raise ValidationError(f"parameter {key!r}: its {what} contains a NUL character")
    task._backend.set_parameters(task.id, values, replace=replace)


class ConnectedDict(dict[str, Any]):
    """A connected dict: changes made through it are written to the task's parameters too."""

    def __init__(self, task: TaskCore, section: str, values: Mapping[str, Any]) -> None:
        super().__init__(values)
        self._task = task
        self._section = section
        self._original = values

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        if isinstance(self._original, dict) and self._original is not self:
            self._original[key] = value
        self._write({key: value})

    def update(self, *args: Any, **kwargs: Any) -> None:
        changes = dict(*args, **kwargs)
        super().update(changes)
        if isinstance(self._original, dict):
            self._original.update(changes)
        self._write(changes)

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def _write(self, changes: Mapping[str, Any]) -> None:
        flat = params.flatten(changes)
        write_params(self._task, {f"{self._section}/{k}": params.to_param(v) for k, v in flat.items()})


class _Nothing:
    pass


_NOTHING = _Nothing()


def _public_attributes(obj: object) -> dict[str, Any]:
    """Public data attributes: the class's (for an instance, also those it inherits) and its own."""
    source: dict[str, Any] = {}
    owners = [obj] if isinstance(obj, type) else [*reversed(type(obj).__mro__[:-1]), obj]
    for owner in owners:
        source.update(getattr(owner, "__dict__", {}))
    return {
        name: value
        for name, value in source.items()
        if not name.startswith("_")
        and not callable(value)
        and not isinstance(value, (property, staticmethod, classmethod))
    }
