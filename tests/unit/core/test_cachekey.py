from __future__ import annotations

import datetime
import enum
import subprocess
import sys
from collections import namedtuple
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import pytest

from ductwork.core import cachekey
from ductwork.core.cachekey import CacheInputs
from ductwork.core.errors import ValidationError

BASE = CacheInputs(
    code="def f(x):\n    return x\n",
    parameters={"x": 1, "opts": {"a": [1, 2], "b": None}},
    input_hashes={"data": "ab" * 32},
    requirements=["numpy==2.0", "pandas>=2"],
    container={"image": "python:3.11", "arguments": ""},
)


def with_(**changes: Any) -> CacheInputs:
    return CacheInputs(**{**BASE.__dict__, **changes})


def test_parts_names() -> None:
    parts = cachekey.parts(BASE)
    assert list(parts) == [
        "code",
        "parameters",
        "param:opts",
        "param:x",
        "input:data",
        "requirements",
        "container",
    ]
    assert all(len(digest) == 64 for digest in parts.values())


def test_key_is_stable_and_ignores_dict_order() -> None:
    reordered = with_(
        parameters={"opts": {"b": None, "a": [1, 2]}, "x": 1},
        requirements="pandas>=2\n\n# pinned\nnumpy==2.0\n",
        container={"arguments": "", "image": "python:3.11"},
    )
    assert cachekey.key(BASE) == cachekey.key(reordered)
    assert cachekey.parts(BASE) == cachekey.parts(reordered)


def test_key_is_stable_across_processes() -> None:
    code = (
        "from ductwork.core.cachekey import CacheInputs, key\n"
        "print(key(CacheInputs(code='c', parameters={'s': {'b', 'a', 'c'}, 'd': {'y': 1, 'x': 2}})))\n"
    )
    keys = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PYTHONPATH": ":".join(sys.path)},
        ).stdout
        for seed in ("1", "2")
    }
    assert len(keys) == 1


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (1, 1.0),
        (1, True),
        (1.0, True),
        (1, "1"),
        (0, False),
        (None, "None"),
        ([1, 2], (1, 2)),
        ({"1": 1}, {1: 1}),
        ([1, [2]], [[1], 2]),
        (b"a", "a"),
        ({1, 2}, [1, 2]),
        (0.0, -0.0),
    ],
)
def test_values_of_different_types_never_collide(first: Any, second: Any) -> None:
    assert cachekey.key(with_(parameters={"x": first})) != cachekey.key(with_(parameters={"x": second}))


def test_each_part_changes_the_key_and_explain_names_it() -> None:
    base_parts = cachekey.parts(BASE)
    cases = {
        "code changed": with_(code="def f(x):\n    return x + 1\n"),
        "parameter 'x' changed": with_(parameters={**BASE.parameters, "x": 2}),
        "parameter 'y' added": with_(parameters={**BASE.parameters, "y": 0}),
        "parameter 'opts' removed": with_(parameters={"x": 1}),
        "input 'data' changed": with_(input_hashes={"data": "cd" * 32}),
        "input 'more' added": with_(input_hashes={**BASE.input_hashes, "more": "ef" * 32}),
        "requirements changed": with_(requirements=["numpy==2.1", "pandas>=2"]),
        "container changed": with_(container={"image": "python:3.12"}),
    }
    for reason, inputs in cases.items():
        assert cachekey.key(inputs) != cachekey.key(BASE), reason
        assert cachekey.explain(base_parts, cachekey.parts(inputs)) == reason


def test_explain_lists_several_reasons_in_a_fixed_order() -> None:
    changed = with_(
        code="other", parameters={"x": 5, "opts": BASE.parameters["opts"]}, input_hashes={"data": "0" * 64}
    )
    assert (
        cachekey.explain(cachekey.parts(BASE), cachekey.parts(changed))
        == "code changed; parameter 'x' changed; input 'data' changed"
    )


def test_explain_identical_and_nothing_to_compare() -> None:
    parts = cachekey.parts(BASE)
    assert cachekey.explain(parts, dict(parts)) == "identical"
    assert cachekey.explain({}, parts) == "no earlier run to compare with"


def test_requirement_spelling_does_not_matter() -> None:
    a = with_(requirements=["Scikit_Learn >= 1.0", "numpy==2.0  # the array library"])
    b = with_(requirements="numpy==2.0\nscikit-learn>=1.0\n")
    assert cachekey.key(a) == cachekey.key(b)
    url = with_(requirements=["pkg @ https://example.org/pkg.zip#sha256=ab"])
    other_url = with_(requirements=["pkg @ https://example.org/pkg.zip#sha256=cd"])
    assert cachekey.key(url) != cachekey.key(other_url)


def test_empty_container_entries_mean_nothing() -> None:
    assert cachekey.key(with_(container={})) == cachekey.key(
        with_(container={"image": None, "arguments": ""})
    )


class Colour(enum.Enum):
    RED = 1


@dataclass
class Config:
    lr: float
    layers: tuple[int, ...]


def test_richer_parameter_values() -> None:
    Pair = namedtuple("Pair", "a b")
    values = [
        Colour.RED,
        Config(0.1, (1, 2)),
        Pair(1, 2),
        datetime.date(2024, 1, 2),
        datetime.timedelta(seconds=5),
        PurePosixPath("/data/x"),
        float("nan"),
    ]
    keys = {cachekey.key(with_(parameters={"x": value})) for value in values}
    assert len(keys) == len(values)
    assert cachekey.key(with_(parameters={"x": Config(0.1, (1, 2))})) == cachekey.key(
        with_(parameters={"x": Config(0.1, (1, 2))})
    )
    assert cachekey.key(with_(parameters={"x": Colour.RED})) != cachekey.key(with_(parameters={"x": 1}))


def test_numpy_values_hash_by_content() -> None:
    np = pytest.importorskip("numpy")
    a = cachekey.key(with_(parameters={"x": np.arange(3)}))
    assert a == cachekey.key(with_(parameters={"x": np.arange(3)}))
    assert a != cachekey.key(with_(parameters={"x": np.arange(3).astype("float64")}))
    assert a != cachekey.key(with_(parameters={"x": np.arange(4)}))


@pytest.mark.parametrize(
    ("inputs", "problem"),
    [
        (with_(parameters={"x": object()}), "parameter 'x' is a builtins.object, which has no stable hash"),
        (with_(input_hashes={"data": ""}), "input 'data' needs its artifact's content hash"),
        (with_(requirements=[1]), "requirement 1 is not a string"),
        (with_(parameters={1: 2}), "names must be strings"),
        (with_(code=3), "code must be a string"),
        (with_(container=["image"]), "container must be a mapping"),
    ],
)
def test_bad_inputs(inputs: CacheInputs, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        cachekey.key(inputs)


def test_self_containing_values_are_refused() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValidationError, match="nested too deeply"):
        cachekey.key(with_(parameters={"x": loop}))


def test_key_of_parts_matches_key() -> None:
    assert cachekey.key_of_parts(cachekey.parts(BASE)) == cachekey.key(BASE)
    assert cachekey.key_of_parts({**cachekey.parts(BASE), "code": "0" * 64}) != cachekey.key(BASE)
