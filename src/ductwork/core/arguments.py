"""A parameter value as its stored type: the one parse-and-cast of pipeline arguments.

A pipeline argument is stored with its Python type's name (`Param.type`: int, float, bool, str,
list, tuple, dict, NoneType or a user's hint). Values come back from several places: text typed in
the NEW RUN form, JSON from `POST /api/runs/{id}/new`, a stored parameter edited by hand that the
SDK reads back. Each of them turns the value into the stored type here, so a value is read the
same way wherever it was typed:

    parse("7", "int", name="pipeline argument 'epochs'")   -> 7     (text a person typed)
    cast("[4, 5]", "list", name="...")                     -> [4, 5] (a JSON value or text)
    cast("many", "int", name="pipeline argument 'epochs'")
    -> ArgumentError: pipeline argument 'epochs' must be int: 'many' is not a whole number

`check_json` says whether a value can be stored as a parameter at all (JSON types, str keys).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable, Iterable, Mapping

from ductwork.core.errors import ValidationError

TRUE_WORDS = frozenset({"true", "1", "yes", "y", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "n", "off", ""})
UNTYPED = frozenset({"", "Any"})  # no type recorded: the value is kept as it is
CASTABLE = frozenset({"str", "int", "float", "bool", "list", "tuple", "dict", "NoneType"})
# What an empty form field means, made anew each time (a caller may change the list it gets)
_EMPTY_TEXT: dict[str, Callable[[], object]] = {
    "bool": bool,
    "list": list,
    "tuple": list,
    "dict": dict,
    "nonetype": lambda: None,
}
_MAX_DIGITS = 4300  # Python's default int <-> text limit; json.dumps refuses longer ints
_TOO_LONG: int = 10**_MAX_DIGITS


class ArgumentError(ValidationError):
    """A value that cannot be read as its argument's type; `reason` is the message without the name
    (a form shows it beside the field that already names the argument)."""

    def __init__(self, name: str, type_name: str, reason: str) -> None:
        super().__init__(f"{name} must be {type_name or 'a value'}: {reason}")
        self.name = name
        self.type_name = type_name
        self.reason = reason


def parse(text: str, type_name: str, *, name: str) -> object:
    """Text a person typed (a form field, a command-line value) as a value of `type_name`.

    An empty field means the empty value of its type (false, [], {}, None); for an argument
    whose default was None (type NoneType) the text is read as JSON when it is JSON."""
    kind = type_name.lower()
    if not text.strip() and kind in _EMPTY_TEXT:
        return _EMPTY_TEXT[kind]()
    if kind == "nonetype":
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            value = text
        return _checked(value, type_name, name)
    return cast(text, type_name, name=name)


def cast(value: object, type_name: str, *, name: str) -> object:
    """`value` (a JSON value, or text) as Python type `type_name`; ArgumentError naming `name`.

    A type we cannot check (a user's hint such as "path") keeps the value as given; so does
    None, the value of an argument left unset."""
    caster = _CASTERS.get(type_name.lower())
    if value is None or type_name in UNTYPED or caster is None:
        return _checked(value, type_name, name)
    try:
        return _checked(caster(value), type_name, name)
    except ArgumentError:
        raise
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError) as exc:
        raise ArgumentError(name, type_name, str(exc) or type(exc).__name__) from None


def is_json(value: object) -> bool:
    """Whether `value` is made of JSON types only: None, bool, int, float, str, lists (or tuples)
    and dicts with str keys. Walked without recursion, so a deep value cannot exhaust the stack."""
    pending = [value]
    while pending:
        item = pending.pop()
        if item is None or isinstance(item, (bool, int, float, str)):
            continue
        if isinstance(item, (list, tuple)):
            pending.extend(item)
        elif isinstance(item, dict) and all(isinstance(key, str) for key in item):
            pending.extend(item.values())
        else:
            return False
    return True


def check_json(value: object, where: str) -> None:
    """ValidationError naming `where` for a value that cannot be stored as a parameter."""
    if not is_json(value):
        raise ValidationError(f"{where}: {type(value).__name__} values cannot be stored as a parameter")


def short(value: object, most: int = 60) -> str:
    """`repr(value)` cut to `most` characters, for messages (a value may be megabytes)."""
    text = "<an integer too long to show>" if isinstance(value, int) and _too_long(value) else repr(value)
    return text if len(text) <= most else f"{text[: most - 5]}...{text[-2:]}"


# --- the checks every cast value passes -----------------------------------------------------------


def _checked(value: object, type_name: str, name: str) -> object:
    """`value`, once sure the store can keep it: no NUL in a string, no int JSON cannot write."""
    for item in _scalars(value):
        if isinstance(item, str) and "\x00" in item:
            raise ArgumentError(name, type_name, "it contains a NUL character, which the store cannot hold")
        if isinstance(item, int) and not isinstance(item, bool) and _too_long(item):
            raise ArgumentError(name, type_name, f"the integer has more than {_MAX_DIGITS} digits")
    return value


def _scalars(value: object) -> Iterable[object]:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, Mapping):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            pending.extend(item)
        else:
            yield item


def _too_long(number: int) -> bool:
    # compared as numbers: turning it into text is what would fail
    return abs(number) >= _TOO_LONG


# --- one converter per type name ----------------------------------------------------------------


def _to_text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _to_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value)
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ValueError(f"{short(value)} is not true or false (true/false, yes/no, 1/0)")


def _to_int(value: object) -> int:
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{short(value)} is not a whole number")
        return int(value)
    text = str(value).strip()
    if len(text.lstrip("+-")) > _MAX_DIGITS:
        raise ValueError(f"the integer has more than {_MAX_DIGITS} digits")
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)  # "3.0", "1e3": whole numbers written as decimals
    except ValueError:
        raise ValueError(f"{short(value)} is not a whole number") from None
    if not number.is_integer():
        raise ValueError(f"{short(value)} is not a whole number")
    return int(number)


def _to_float(value: object) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        raise ValueError(f"{short(value)} is not a number") from None


def _parse_literal(value: object) -> object:
    """Text as JSON, or as a Python literal (what `str(list)` wrote); other values as they are."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        error = f"not valid JSON: {exc.msg} at character {exc.pos}"
    except RecursionError:
        raise ValueError("it nests too deeply") from None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise ValueError(error) from None


def _to_list(value: object) -> list[object]:
    parsed = _parse_literal(value)
    if isinstance(parsed, (list, tuple, set, frozenset)):
        return list(parsed)
    raise ValueError(f"expected a JSON array, got {_json_kind(parsed)}")


def _to_tuple(value: object) -> tuple[object, ...]:
    return tuple(_to_list(value))


def _to_dict(value: object) -> dict[object, object]:
    parsed = _parse_literal(value)
    if isinstance(parsed, Mapping):
        return dict(parsed)
    raise ValueError(f"expected a JSON object, got {_json_kind(parsed)}")


def _to_none(value: object) -> object:
    return None if value in ("", "None") else value


def _json_kind(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


_CASTERS: dict[str, Callable[[object], object]] = {
    "str": _to_text,
    "int": _to_int,
    "float": _to_float,
    "bool": _to_bool,
    "list": _to_list,
    "tuple": _to_tuple,
    "dict": _to_dict,
    "nonetype": _to_none,
}
