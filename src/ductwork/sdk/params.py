"""Typed hyper-parameters: flattening connected objects into `Section/name` and casting back.

The store keeps each parameter's Python value with its type name, so an int comes back an int.
Values edited by hand (the UI, a clone's overrides) may arrive as text; `cast` turns them into
the type the running code expects, and says which parameter was wrong when it cannot.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ductwork.core import arguments
from ductwork.core.errors import ValidationError
from ductwork.core.records import Param

DEFAULT_SECTION = "General"


def type_name(value: Any) -> str:
    """The stored type name of a value: its class name (`int`, `list`, `NoneType`, ...)."""
    return type(value).__name__


def to_param(value: Any, description: str = "", value_type: str | None = None) -> Param:
    return Param(value=storable(value), type=value_type or type_name(value), description=description)


def to_text(value: Any) -> str:
    """The string form `get_parameters()` shows (as ClearML shows it: `str(value)`, None as '')."""
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def split_key(key: str, default_section: str = DEFAULT_SECTION) -> tuple[str, str]:
    """`"Section/name"` -> (section, name); a bare name lands in `default_section`."""
    if not isinstance(key, str) or not key:
        raise ValidationError(f"parameter name must be a non-empty str, got {key!r}")
    if "\x00" in key:  # PostgreSQL text cannot hold it: refused here, not lost in the store
        raise ValidationError(f"parameter name {key!r} contains a NUL character")
    section, sep, name = key.partition("/")
    if not sep:
        return default_section, key
    if not section or not name:
        raise ValidationError(f"parameter name {key!r} must look like 'Section/name'")
    return section, name


def full_key(key: str, default_section: str = DEFAULT_SECTION) -> str:
    section, name = split_key(key, default_section)
    return f"{section}/{name}"


def flatten(
    values: Mapping[str, Any], prefix: str = "", sep: str = "/", _path: tuple[int, ...] = ()
) -> dict[str, Any]:
    """Nested dicts become `a/b` keys (`sep` between levels); every other value (lists
    included) stays whole. Keys must be str (a parameter name is text: an int key would come
    back a str) and a dict must not contain itself."""
    path = (*_path, id(values))
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if not isinstance(key, str):
            raise ValidationError(
                f"parameter {prefix}{key!r}: a parameter name must be a str, got {type(key).__name__} "
                "(it would come back as a str)"
            )
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            if id(value) in path:
                raise ValidationError(f"parameter {name!r} contains itself (a cycle cannot be stored)")
            flat.update(flatten(value, f"{name}{sep}", sep, path))
        else:
            flat[name] = value
    return flat


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of `flatten`."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, leaf = key.split("/")
        node = nested
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[leaf] = value
    return nested


def cast(value: Any, to: Any, name: str = "parameter") -> Any:
    """Convert `value` to the type named `to`; raise ValidationError naming `name` if impossible.

    The rules are the pipeline arguments' (`core.arguments.cast`), but for "str": a parameter's
    text is what ClearML shows, `str(value)` (None as ''). Unknown type names (a user's hint such
    as "path") leave the value as it is. A `to` that is not a str is taken as a template value:
    the result has its type (see `cast_like`).
    """
    if not isinstance(to, str):
        return cast_like(value, to, name=name)
    if to == "str":
        return to_text(value)
    return arguments.cast(value, to, name=name)


def cast_like(value: Any, template: Any, *, name: str = "parameter") -> Any:
    """Convert a backend value to the type of the local `template` value (None: keep as stored).

    A template of another type (a `Path`, an Enum...) is rebuilt from the text with its class.
    """
    if template is None:
        return value
    kind = type_name(template)
    if kind in arguments.CASTABLE or isinstance(value, type(template)):
        return cast(value, kind, name=name)
    try:
        return type(template)(value)
    except Exception as exc:
        raise ValidationError(f"{name}: cannot read {value!r} as {kind} ({exc})") from None


def storable(value: Any) -> Any:
    """`value` if the store can keep it as JSON, else its text (the type name is kept apart).

    JSON would turn non-str dict keys into str: such a value is kept as its Python text, which
    `cast` reads back with its keys' types. A value that contains itself is refused."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if _has_cycle(value):
        raise ValidationError(f"a parameter value of type {type(value).__name__} contains itself (a cycle)")
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return str(value)
    if _has_other_keys(value):
        return str(value)
    return value


def _has_cycle(value: Any, path: tuple[int, ...] = ()) -> bool:
    if isinstance(value, Mapping):
        children: Any = value.values()
    elif isinstance(value, (list, tuple, set, frozenset)):
        children = value
    else:
        return False
    if id(value) in path:
        return True
    inner = (*path, id(value))
    return any(_has_cycle(child, inner) for child in children)


def _has_other_keys(value: Any) -> bool:
    if isinstance(value, Mapping):
        return any(not isinstance(key, str) for key in value) or any(map(_has_other_keys, value.values()))
    if isinstance(value, (list, tuple)):
        return any(map(_has_other_keys, value))
    return False


def cast_param(param: Param, *, name: str) -> Any:
    return cast(param.value, param.type, name=name)
