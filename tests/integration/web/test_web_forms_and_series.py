"""NEW RUN's typed inputs and the scalar downsampling, checked directly on their functions."""

from __future__ import annotations

import math

import pytest

from ductwork.server.services.views import lttb
from ductwork.server.web.forms import ArgField, NewRunForm, parse_new_run, parse_value


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("42", "int", 42),
        (" -7 ", "int", -7),
        ("2.5", "float", 2.5),
        ("1e-3", "float", 0.001),
        ("true", "bool", True),
        ("Off", "bool", False),
        ("", "bool", False),
        ("[1, 2]", "list", [1, 2]),
        ('{"a": 1}', "dict", {"a": 1}),
        ("", "dict", {}),
        ("", "NoneType", None),
        ("3", "NoneType", 3),
        ("plain words", "NoneType", "plain words"),
        ("  kept as typed  ", "str", "  kept as typed  "),
        ("anything", "my.CustomHint", "anything"),
    ],
)
def test_values_come_back_with_their_recorded_type(text: str, kind: str, value: object) -> None:
    assert parse_value(text, kind) == value
    assert type(parse_value(text, kind)) is type(value)


@pytest.mark.parametrize(
    ("text", "kind", "message"),
    [
        ("2.5", "int", "not a whole number"),
        ("ten", "float", "not a number"),
        ("maybe", "bool", "not true or false"),
        ("[1,", "list", "not valid JSON"),
        ('{"a": 1}', "list", "expected a JSON array"),
        ("[1]", "dict", "expected a JSON object"),
    ],
)
def test_bad_values_say_what_is_wrong(text: str, kind: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_value(text, kind)


def test_every_bad_field_is_reported_at_once_and_a_queue_is_required() -> None:
    form = NewRunForm(
        run_id="r",
        run_name="etl",
        fields=[
            ArgField("epochs", "int", "3", ""),
            ArgField("lr", "float", "0.1", ""),
            ArgField("x", "str", "", ""),
        ],
        queues=["services"],
        queue="services",
    )
    args, queue, errors = parse_new_run(form, {"arg:epochs": "many", "arg:lr": "fast", "queue": " "})
    assert set(errors) == {"epochs", "lr", "queue"}
    args, queue, errors = parse_new_run(form, {"arg:epochs": "5", "queue": "gpu"})
    assert errors == {} and queue == "gpu"
    assert args == {"epochs": 5, "lr": 0.1, "x": ""}  # fields not sent keep the pre-filled value


def test_lttb_keeps_ends_and_extremes_in_a_fixed_budget() -> None:
    points = [(float(i), math.sin(i / 50)) for i in range(100_000)]
    points[61_234] = (61_234.0, 25.0)
    points[7_000] = (7_000.0, -25.0)
    kept = lttb(points, 1000)
    assert len(kept) == 1000
    assert kept[0] == 0 and kept[-1] == 99_999
    assert kept == sorted(set(kept))
    assert 61_234 in kept and 7_000 in kept
    assert lttb(points[:10], 1000) == list(range(10))
    assert lttb(points[:10], 2) == list(range(10))  # fewer than three buckets cannot be downsampled
