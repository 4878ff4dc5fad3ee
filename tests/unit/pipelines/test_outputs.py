"""A step output has one form in the code (`runner.Output`) and one stored form (the marker)."""

from __future__ import annotations

import pytest

from ductwork.core.errors import ValidationError
from ductwork.pipelines.runner import Output, from_stored, outputs_in, replace_outputs, stored


def test_outputs_are_stored_as_markers_at_any_depth_and_read_back() -> None:
    value = {"a": [Output("t1", "x"), (1, Output("t2", "y"))], "b": Output("t3", "z"), "c": "text"}
    kept = stored(value)
    assert kept == {"a": [{"$ref": "t1.x"}, (1, {"$ref": "t2.y"})], "b": {"$ref": "t3.z"}, "c": "text"}
    assert from_stored(kept) == value


def test_outputs_are_found_with_their_place_and_replaced_by_their_values() -> None:
    value = [Output("t1", "x"), {"k": Output("t2", "y")}]
    found = outputs_in(value, "kwargs/v")
    assert found == [("kwargs/v[0]", Output("t1", "x")), ("kwargs/v[1].k", Output("t2", "y"))]
    loaded = {Output("t1", "x"): None, Output("t2", "y"): 7}  # None is a value, not "no value"
    assert replace_outputs(value, loaded.__getitem__) == [None, {"k": 7}]


def test_a_marker_names_a_task_and_an_output() -> None:
    assert Output.parse("abc.out") == Output("abc", "out")
    with pytest.raises(ValidationError, match="must look like"):
        Output.parse("no-dot")
