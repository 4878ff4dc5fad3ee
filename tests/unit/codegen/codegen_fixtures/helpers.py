"""A user's helper module: functions, classes, constants and decorators the steps use."""

from __future__ import annotations

import enum
import functools
import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

THRESHOLD = 0.5
SETTINGS = {"mode": "fast", "levels": (1, 2, 3), "ratio": float("inf"), "tags": {"b", "a"}}
WORD = re.compile(r"\w+", re.IGNORECASE)
log = logging.getLogger("codegen_fixtures.helpers")


def scale(x: float) -> float:
    """Uses a constant and a stdlib module."""
    return math.floor(x * _factor()) if x > THRESHOLD else x


def _factor() -> int:
    return 10


def count_words(text: str) -> int:
    log.debug("counting words")
    return len(WORD.findall(text))


@dataclass
class Point:
    x: float
    y: float

    def norm(self) -> float:
        return math.hypot(self.x, self.y)


class Point3(Point):
    def __init__(self, x: float, y: float, z: float) -> None:
        super().__init__(x, y)
        self.z = z


@functools.cache
def cached_square(n: int) -> int:
    return n * n


def traced(func: Callable[..., Any]) -> Callable[..., Any]:
    """A decorator that keeps the wrapped function on ``__wrapped__``."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return wrapper


def plain_decorator(func: Callable[..., Any]) -> Callable[..., Any]:
    """A decorator without functools.wraps: the function is only reachable through the closure."""

    def inner(*args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    return inner


def tagged(label: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A decorator factory (like ``@PipelineDecorator.component(...)``)."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            return func(*args, **kwargs)

        run.label = label  # type: ignore[attr-defined]
        return run

    return decorate


square = lambda n: n * n  # noqa: E731


class Mode(enum.Enum):
    FAST = "fast"
    SLOW = "slow"


DEFAULT_MODE = Mode.FAST


@dataclass(frozen=True)
class Settings:
    lr: float
    layers: tuple[int, ...] = (8, 8)


DEFAULTS = Settings(lr=0.1)


def power(base: float, exponent: int) -> float:
    return base**exponent
