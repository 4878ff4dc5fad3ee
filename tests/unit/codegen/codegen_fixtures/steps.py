"""A user's pipeline module: step functions in the shapes the capture must handle."""

from __future__ import annotations

import json
import os.path
from collections import OrderedDict, namedtuple
from collections.abc import Callable
from functools import partial
from http import HTTPStatus
from pathlib import PurePosixPath
from typing import Any

import numpy as np

from codegen_fixtures import helpers
from codegen_fixtures.helpers import (
    DEFAULT_MODE,
    DEFAULTS,
    SETTINGS,
    Mode,
    Point,
    Point3,
    cached_square,
    count_words,
    plain_decorator,
    power,
    scale,
    square,
    tagged,
    traced,
)
from codegen_fixtures.helpers import scale as rescale
from codegen_fixtures.other import scale as other_scale
from ductwork.core.errors import ValidationError

OPEN_FILE = open(__file__)  # noqa: SIM115  -- a global that cannot be captured
LIMIT = 3
HTTP_OK = HTTPStatus.OK


def simple(a: int, b: int = LIMIT) -> int:
    """A step using a constant as a default value."""
    return a + b


@tagged("outer")
@traced
@plain_decorator
def decorated(x: float) -> float:
    return scale(x) + LIMIT


def with_numpy(values: list[float]) -> float:
    arr = np.asarray(values)
    return float(arr.mean())


def with_body_import(text: str) -> dict[str, Any]:
    import yaml  # an import inside the body still counts as a requirement

    return dict(yaml.safe_load(text))


def uses_user_code(x: float) -> dict[str, Any]:
    point = Point(x, 4.0)
    p3 = Point3(1.0, 2.0, 3.0)
    return {
        "scaled": rescale(x),
        "norm": point.norm(),
        "z": p3.z,
        "words": count_words("Two words"),
        "square": square(3) + cached_square(4),
        "settings": SETTINGS["mode"],
        "ordered": list(OrderedDict(a=1)),
        "json": json.dumps([1]),
        "join": os.path.join("a", "b"),
    }


def uses_user_module_object() -> float:
    return helpers.THRESHOLD


def uses_open_file() -> str:
    return OPEN_FILE.read()


def make_step(offset: int, label: str) -> Callable[[int], str]:
    """A factory: the step it returns is a nested function with closure variables."""
    table = {"k": [1, 2]}

    def double(n: int) -> int:
        return n * 2

    def nested_step(n: int) -> str:
        text = """keep
    this indentation
        exactly"""
        return f"{label}:{double(n) + offset + len(table['k'])}:{text}"

    return nested_step


def make_bad_step() -> Callable[[], int]:
    handle = object()

    def bad_step() -> int:
        return id(handle)

    return bad_step


def fact(n: int) -> int:
    return 1 if n <= 1 else n * fact(n - 1)


def is_even(n: int) -> bool:
    return True if n == 0 else is_odd(n - 1)


def is_odd(n: int) -> bool:
    return False if n == 0 else is_even(n - 1)


class Holder:
    def method_step(x: int) -> int:
        return x + LIMIT


WEIGHTS = [1, 2]


def weighted(x: int) -> int:
    return sum(w * x for w in WEIGHTS)


def uses_two_scales(x: float) -> float:
    return scale(x) + other_scale(x)


def uses_ductwork() -> str:
    return ValidationError.__name__


def hidden_helper(x: int) -> int:
    return x * 100


def calls_helper_by_name(x: int) -> int:
    return int(globals()["hidden_helper"](x))


def make_model_step(units: int) -> Callable[[], tuple[int, str, int]]:
    """Classes defined inside a function: a base class, closure values, zero-argument super()."""

    class Layer:
        def __init__(self) -> None:
            self.units = units

    class Dense(Layer):
        def __init__(self) -> None:
            super().__init__()
            self.kind = "dense"

    def model_step() -> tuple[int, str, int]:
        layer = Dense()
        return layer.units, layer.kind, LIMIT

    return model_step


@plain_decorator
def countdown(n: int) -> int:
    return 0 if n <= 0 else countdown(n - 1)


if LIMIT > 0:

    def conditional_step(x: int) -> int:
        return x - LIMIT


QUOTES = 'it\'s """quoted""" \n and \\ escaped'
RAW = b"\x00\xff"
ODD = (float("nan"), float("-inf"), 1e300, -0.0, 2**70, 1j, frozenset(), set())


def strings_step() -> tuple[Any, ...]:
    return QUOTES, RAW, ODD


def _inner_walk(n: int) -> int:
    return 0 if n <= 0 else walk(n - 1)


walk = plain_decorator(_inner_walk)


def make_transform_step(transform: Callable[[float], float]) -> Callable[[float], float]:
    """A factory taking a function: the step it makes is not a decorator's wrapper."""

    def transform_step(x: float) -> float:
        return transform(x) + 1

    return transform_step


def calls_decorated(x: float) -> float:
    """Uses a function decorated without functools.wraps: its decorators are captured and rerun."""
    return decorated(x) * 2


def make_text_step() -> Callable[[], tuple[str, str, str]]:
    def text_step() -> tuple[str, str, str]:
        joined = (
            "implicitly concatenated strings on several lines, long enough that formatters "
            "keep them apart, each line continuing the same string literal expression"
        )
        value = 3
        formatted = f"""first
    {value}
        last"""
        raw = b"""bytes
      keep"""
        return joined, formatted, raw.decode()

    return text_step


def uses_enums() -> tuple[str, str, bool]:
    from codegen_fixtures.helpers import DEFAULT_MODE as inside  # noqa: F401  -- an import in the body

    return helpers_mode().value, HTTP_OK.phrase, DEFAULT_MODE is Mode.FAST


def helpers_mode() -> Any:
    return DEFAULT_MODE


Pair = namedtuple("Pair", "left right")
ORIGIN = Pair(0, 0)
SQUARE = partial(power, exponent=2)
DATA_DIR = PurePosixPath("/data")


def uses_constructed_constants() -> tuple[Any, ...]:
    return DEFAULTS.lr, DEFAULTS.layers, ORIGIN.right, SQUARE(3.0)


def uses_a_path() -> str:
    return str(DATA_DIR / "x")
