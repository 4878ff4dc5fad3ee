from __future__ import annotations

import pytest

from ductwork.core import version
from ductwork.core.errors import ValidationError


@pytest.mark.parametrize(
    "v", ["1", "1.2", "1.2.3", "1.0.0rc1", "1.0a2", "2.1b3", "1.0.post1", "1.0.dev2", "1.0rc1.post2.dev3"]
)
def test_valid(v: str) -> None:
    assert version.is_valid(v)


@pytest.mark.parametrize(
    "v", ["", "v1", "1.", ".1", "1..2", "1.0-rc1", "1.0 ", "latest", "1.0rc", "1.0.post", "1.0.dev"]
)
def test_invalid(v: str) -> None:
    assert not version.is_valid(v)


def test_non_strings_are_invalid() -> None:
    assert not version.is_valid(1.0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("v", "expected"),
    [
        ("1.0.0", "1.0.1"),
        ("1.2", "1.3"),
        ("10", "11"),
        ("1.9", "1.10"),
        ("1.0.0rc1", "1.0.0rc2"),
        ("2.0a9", "2.0a10"),
        ("1.0.post1", "1.0.post2"),
        ("1.0.dev2", "1.0.dev3"),
        ("1.0rc1.post2", "1.0rc1.post3"),
        ("1.0.post2.dev0", "1.0.post2.dev1"),
    ],
)
def test_bump(v: str, expected: str) -> None:
    assert version.bump(v) == expected


def test_bump_rejects_invalid_versions_with_an_example() -> None:
    with pytest.raises(ValidationError, match=r"version 'latest' is not valid.*'1\.2\.0'"):
        version.bump("latest")


def test_order_follows_pep_440() -> None:
    ordered = [
        "1.0.dev1",
        "1.0a1.dev1",
        "1.0a1",
        "1.0b2",
        "1.0rc1",
        "1.0",
        "1.0.post1.dev1",
        "1.0.post1",
        "1.0.1",
        "1.10",
    ]
    assert sorted(reversed(ordered), key=version.sort_key) == ordered
    assert version.sort_key("1.0") == version.sort_key("1.0.0") == version.sort_key("1")


def test_max_version() -> None:
    assert version.max_version(["1.9", "1.10", "1.10rc1", "1.2.post5"]) == "1.10"
    assert version.max_version(["1.0.0", "garbage", "0.9"]) == "1.0.0"
    assert version.max_version(["garbage"]) is None
    assert version.max_version([]) is None
    assert version.max_version(iter(["2", "10"])) == "10"
