"""Reported values checked and made storable: names, numbers, iterations, JSON.

A report is refused where it is made (ValidationError naming the title and series), not lost
later in the background writer or the store.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, TypeAlias

from ductwork.core.errors import ValidationError

# A value as JSON holds it: what reported payloads are made of.
JSON: TypeAlias = bool | int | float | str | list["JSON"] | dict[str, "JSON"] | None

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def require_str(what: str, value: object) -> None:
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be a str, got {type(value).__name__} ({value!r})")
    if "\x00" in value:  # PostgreSQL text cannot hold it; refused here rather than lost later
        raise ValidationError(f"{what} {value!r} contains a NUL character")


def number(what: str, value: Any, title: str, series: str) -> float:
    if isinstance(value, (str, bytes)) or value is None:
        raise ValidationError(
            f"{title}/{series}: {what} must be a number, got {type(value).__name__} ({value!r})"
        )
    try:
        return float(value)
    except OverflowError:
        raise ValidationError(f"{title}/{series}: {what} {value!r} is too large for a 64-bit float") from None
    except (TypeError, ValueError):
        raise ValidationError(
            f"{title}/{series}: {what} must be a number, got {type(value).__name__} ({value!r})"
        ) from None


def numbers(values: Any, what: str, title: str, series: str) -> list[float]:
    if hasattr(values, "tolist"):
        values = values.tolist()
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise ValidationError(f"{title}/{series}: {what} must be a sequence of numbers")
    return [number(what, value, title, series) for value in values]


def iteration(value: Any) -> int:
    """An iteration as a 64-bit int (an integral float or any `__index__` type is accepted)."""
    if isinstance(value, bool):
        raise ValidationError(f"iteration must be an int, got bool ({value!r})")
    if isinstance(value, float) and value.is_integer():
        step = int(value)
    else:
        try:
            step = int(value.__index__())
        except (AttributeError, TypeError):
            raise ValidationError(
                f"iteration must be an int, got {type(value).__name__} ({value!r})"
            ) from None
    if not INT64_MIN <= step <= INT64_MAX:
        raise ValidationError(f"iteration {step} is outside the 64-bit range")
    return step


def jsonable(value: object) -> JSON:
    """A copy of `value` made of JSON types only: numpy values unwrapped, NaN/inf as None,
    tuples as lists, anything else as its str."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return jsonable(value.tolist())
    if hasattr(value, "item"):
        try:
            return jsonable(value.item())
        except (TypeError, ValueError):
            pass
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)
