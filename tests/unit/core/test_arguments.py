"""The one parse-and-cast of pipeline arguments (`core.arguments`), as NEW RUN, the web form and
the SDK use it."""

from __future__ import annotations

import pytest

from ductwork.core import arguments
from ductwork.core.arguments import ArgumentError
from ductwork.core.errors import ValidationError

NAME = "pipeline argument 'epochs'"


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        ("7", "int", 7),
        (" 7 ", "int", 7),
        ("3.0", "int", 3),
        (2.0, "int", 2),
        (5, "float", 5.0),
        ("0.5", "float", 0.5),
        ("yes", "bool", True),
        ("Off", "bool", False),
        (1, "bool", True),
        (True, "bool", True),
        ("[4, 5]", "list", [4, 5]),
        ("[1, 'a']", "list", [1, "a"]),  # what str(list) wrote
        ((1, 2), "list", [1, 2]),
        ("(1, 2)", "tuple", (1, 2)),
        ('{"a": 1}', "dict", {"a": 1}),
        ("text", "str", "text"),
        (True, "str", "true"),  # a JSON value for a str argument: its JSON text
        ([1, "a"], "str", '[1, "a"]'),
        ("", "NoneType", None),
        ("None", "NoneType", None),
        ("3", "NoneType", "3"),
        ("anything", "my.PathHint", "anything"),
        ({"x": 1}, "Any", {"x": 1}),
        (None, "int", None),  # an argument left unset stays unset
        ("2", "Int", 2),
    ],
)
def test_cast_each_type(value: object, kind: str, expected: object) -> None:
    result = arguments.cast(value, kind, name=NAME)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("value", "kind", "reason"),
    [
        ("many", "int", "'many' is not a whole number"),
        ("2.5", "int", "'2.5' is not a whole number"),
        (2.5, "int", "2.5 is not a whole number"),
        ("1e400", "int", "is not a whole number"),
        ("ten", "float", "'ten' is not a number"),
        ("maybe", "bool", "'maybe' is not true or false"),
        ("[1,", "list", "not valid JSON"),
        ("{}", "list", "expected a JSON array, got an object"),
        ("[1]", "dict", "expected a JSON object, got an array"),
        ("[" * 100_000, "list", "nests too deeply"),
    ],
)
def test_bad_values_name_the_argument_and_say_why(value: object, kind: str, reason: str) -> None:
    with pytest.raises(ArgumentError) as caught:
        arguments.cast(value, kind, name=NAME)
    assert str(caught.value).startswith(f"{NAME} must be {kind}: ")
    assert reason in caught.value.reason
    assert isinstance(caught.value, ValidationError)  # a 422 from the API


def test_a_huge_integer_is_refused_before_it_is_turned_into_text() -> None:
    digits = "9" * 5000
    with pytest.raises(ArgumentError, match=f"{NAME} must be int: the integer has more than 4300 digits"):
        arguments.cast(digits, "int", name=NAME)
    with pytest.raises(ArgumentError, match="more than 4300 digits"):
        arguments.cast(10**5000, "int", name=NAME)  # as JSON would bring it
    with pytest.raises(ArgumentError, match="more than 4300 digits"):
        arguments.cast([1, 10**5000], "list", name=NAME)
    assert arguments.cast("9" * 4300, "int", name=NAME) == 10**4300 - 1  # the longest that is kept


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("a\x00b", "str"),
        (["ok", "a\x00"], "list"),
        ({"k\x00": 1}, "dict"),
        ("x\x00", "my.Hint"),
        ("\x00", "NoneType"),
    ],
)
def test_a_nul_character_is_refused_naming_the_argument(value: object, kind: str) -> None:
    with pytest.raises(ArgumentError, match=f"{NAME} must be .*NUL character"):
        arguments.cast(value, kind, name=NAME)


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("", "bool", False),
        ("", "list", []),
        ("", "dict", {}),
        ("", "NoneType", None),
        ("3", "NoneType", 3),  # a None default: the text read as JSON when it is JSON
        ("plain words", "NoneType", "plain words"),
        ("  kept as typed  ", "str", "  kept as typed  "),
        ("7", "int", 7),
    ],
)
def test_parse_reads_text_a_person_typed(text: str, kind: str, expected: object) -> None:
    assert arguments.parse(text, kind, name=NAME) == expected


def test_an_empty_field_gives_a_new_value_each_time() -> None:
    first = arguments.parse("", "list", name=NAME)
    assert isinstance(first, list)
    first.append(1)
    assert arguments.parse("", "list", name=NAME) == []


def test_parse_of_an_empty_number_is_an_error() -> None:
    with pytest.raises(ArgumentError, match="'' is not a whole number"):
        arguments.parse("", "int", name=NAME)
    with pytest.raises(ArgumentError, match="NUL"):
        arguments.parse('"\\u0000"', "NoneType", name=NAME)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (None, True),
        ({"a": [1, 2.5, True, None, "s"]}, True),
        ((1, 2), True),
        ({"$ref": "abc.out"}, True),  # a step-output marker is a JSON object
        ({1: "a"}, False),
        ({1, 2}, False),
        (object(), False),
        ([[[[[[[[[[[[[[[[[[[[[[[[[[[[[[object()]]]]]]]]]]]]]]]]]]]]]]]]]]]]]], False),
    ],
)
def test_is_json(value: object, ok: bool) -> None:
    assert arguments.is_json(value) is ok


def test_a_deep_value_is_checked_without_recursion() -> None:
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    assert arguments.is_json(deep)


def test_check_json_names_where() -> None:
    arguments.check_json({"a": 1}, "pipeline parameter 'x'")
    with pytest.raises(ValidationError, match="pipeline parameter 'x': set values cannot be stored"):
        arguments.check_json({1}, "pipeline parameter 'x'")


def test_short_cuts_long_values_for_messages() -> None:
    assert arguments.short("x" * 1000).endswith("...x'")
    assert len(arguments.short("x" * 1000)) == 60
    assert arguments.short(10**5000) == "<an integer too long to show>"
