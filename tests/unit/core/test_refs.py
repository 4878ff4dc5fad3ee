from __future__ import annotations

from collections import OrderedDict, defaultdict, namedtuple
from typing import Any

import pytest

from ductwork.core import refs
from ductwork.core.errors import ValidationError
from ductwork.core.refs import Ref


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${pipeline.lr}", Ref("${pipeline.lr}", "pipeline", "pipeline", ("lr",))),
        ("${prep.id}", Ref("${prep.id}", "prep", "id", ())),
        ("${prep.artifacts.data}", Ref("${prep.artifacts.data}", "prep", "artifacts", ("data",))),
        (
            "${prep.artifacts.data.url}",
            Ref("${prep.artifacts.data.url}", "prep", "artifacts", ("data", "url")),
        ),
        (
            r"${prep.artifacts.my\.file.hash}",
            Ref(r"${prep.artifacts.my\.file.hash}", "prep", "artifacts", ("my.file", "hash")),
        ),
        (
            "${prep.artifacts.data.metadata.rows}",
            Ref("${prep.artifacts.data.metadata.rows}", "prep", "artifacts", ("data", "metadata", "rows")),
        ),
        (
            "${prep.parameters.Args/lr.v2}",
            Ref("${prep.parameters.Args/lr.v2}", "prep", "parameters", ("Args/lr.v2",)),
        ),
        (
            "${prep.models.output.-1.url}",
            Ref("${prep.models.output.-1.url}", "prep", "models", ("output", "-1", "url")),
        ),
        (
            "${prep.models.input.0.id}",
            Ref("${prep.models.input.0.id}", "prep", "models", ("input", "0", "id")),
        ),
        ("${prep.script.branch}", Ref("${prep.script.branch}", "prep", "script", ("branch",))),
        (
            "${prep.container.image.tag}",
            Ref("${prep.container.image.tag}", "prep", "container", ("image", "tag")),
        ),
        ("${prep.execution.queue}", Ref("${prep.execution.queue}", "prep", "execution", ("queue",))),
        ("${prep.output.destination}", Ref("${prep.output.destination}", "prep", "output", ("destination",))),
        ("${prep.comment}", Ref("${prep.comment}", "prep", "comment", ())),
        ("${prep.tags}", Ref("${prep.tags}", "prep", "tags", ())),
        ("${prep.system_tags}", Ref("${prep.system_tags}", "prep", "system_tags", ())),
        ("${prep.project}", Ref("${prep.project}", "prep", "project", ())),
        ("${prep.name}", Ref("${prep.name}", "prep", "name", ())),
        ("${prep.status}", Ref("${prep.status}", "prep", "status", ())),
        ("${prep.accuracy}", Ref("${prep.accuracy}", "prep", "return", ("accuracy",))),
        ("${step one.id}", Ref("${step one.id}", "step one", "id", ())),
    ],
)
def test_parse(text: str, expected: Ref) -> None:
    assert refs.parse(text) == expected


def test_task_field_kinds() -> None:
    assert refs.parse("${a.script.x}").is_task_field
    assert refs.parse("${a.tags}").is_task_field
    assert not refs.parse("${a.id}").is_task_field
    assert not refs.parse("${a.result}").is_task_field


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("${}", "is empty"),
        ("${prep}", "names no field"),
        ("${prep.}", "names no field"),
        ("${.id}", "must not be empty"),
        ("${pipeline.}", "names no field"),
        ("${pipeline. x}", "empty or padded"),
        ("${prep.id.x}", "'id' takes no path"),
        ("${prep.id.}", "ends with a dot"),
        ("${prep.artifacts}", "needs an artifact name"),
        ("${prep.artifacts.data.colour}", "artifact attribute 'colour' is unknown"),
        ("${prep.artifacts.data.url.x}", "only metadata has keys"),
        ("${prep.artifacts.a..url}", "empty part"),
        ("${prep.parameters.lr}", "'<Section>/<key>'"),
        ("${prep.parameters./lr}", "'<Section>/<key>'"),
        ("${prep.models.output.last.url}", "must be an integer"),
        ("${prep.models.middle.0.url}", "must be 'input' or 'output'"),
        ("${prep.models.output.0}", "has the form"),
        ("${prep.models.output.0.colour}", "model attribute 'colour' is unknown"),
        ("${prep.script}", "needs a path inside script"),
        ("${prep.script.a..b}", "empty part"),
        ("${prep.comment.x}", "'comment' takes no path"),
        ("${prep.result.x}", "cannot be followed by '.x'"),
        ("${prep.no-such}", "neither a known field"),
        ("${pipe line.id}", None),  # a space inside a name is allowed
        ("${ prep.id}", "whitespace"),
        ("prep.id", "is not a reference"),
        ("${a.id} ${b.id}", "is not a reference"),
    ],
)
def test_parse_errors_quote_the_reference(text: str, problem: str | None) -> None:
    if problem is None:
        refs.parse(text)
        return
    with pytest.raises(ValidationError, match=problem) as info:
        refs.parse(text)
    assert repr(text) in str(info.value)


def test_find_in_text_and_recursively() -> None:
    value = {
        "a": "${s1.id}/${pipeline.x}",
        "b": ["${s2.out}", ("${s3.artifacts.d}",), {"k": "${s4.tags}"}],
        "c": 3,
    }
    assert refs.find(value) == []
    found = refs.find(value, recursive=True)
    assert [r.text for r in found] == [
        "${s1.id}",
        "${pipeline.x}",
        "${s2.out}",
        "${s3.artifacts.d}",
        "${s4.tags}",
    ]
    assert refs.steps(value, recursive=True) == {"s1", "s2", "s3", "s4"}
    assert refs.steps("plain text $5 {x}") == set()
    assert refs.find(42) == []


def test_find_rejects_unclosed_references() -> None:
    with pytest.raises(ValidationError, match="unclosed reference"):
        refs.find("${a.id} and ${b.id")
    with pytest.raises(ValidationError, match="unclosed reference"):
        refs.find(["${b.id"], recursive=True)


def _resolver(values: dict[str, Any]) -> Any:
    return lambda ref: values[ref.text]


def test_substitute_keeps_the_type_of_a_whole_reference() -> None:
    resolve = _resolver({"${pipeline.n}": 3, "${a.out}": [1, 2], "${a.none}": None})
    assert refs.substitute("${pipeline.n}", resolve) == 3
    assert refs.substitute("${a.out}", resolve) == [1, 2]
    assert refs.substitute("${a.none}", resolve) is None


def test_substitute_keeps_surrounding_text() -> None:
    resolve = _resolver({"${pipeline.n}": 3, "${a.id}": "abc"})
    assert refs.substitute("n=${pipeline.n}, id=${a.id}!", resolve) == "n=3, id=abc!"
    assert refs.substitute(" ${pipeline.n}", resolve) == " 3"
    assert refs.substitute("${pipeline.n}${pipeline.n}", resolve) == "33"
    assert refs.substitute("no refs", resolve) == "no refs"


def test_substitute_passes_non_strings_through_and_only_walks_when_asked() -> None:
    resolve = _resolver({"${pipeline.n}": 3})
    data = ["${pipeline.n}"]
    assert refs.substitute(data, resolve) is data
    assert refs.substitute(4.5, resolve) == 4.5


def test_substitute_recursively_keeps_container_types() -> None:
    Point = namedtuple("Point", "x y")
    resolve = _resolver({"${pipeline.n}": 3, "${a.s}": "s"})
    value = {
        "list": ["${pipeline.n}", "x${a.s}"],
        "tuple": ("${pipeline.n}", ["${a.s}"]),
        "point": Point("${pipeline.n}", 0),
        "ordered": OrderedDict(k="${a.s}"),
        "default": defaultdict(list, k="${pipeline.n}"),
        "other": 1,
    }
    result = refs.substitute(value, resolve, recursive=True)
    assert result == {
        "list": [3, "xs"],
        "tuple": (3, ["s"]),
        "point": Point(3, 0),
        "ordered": OrderedDict(k="s"),
        "default": {"k": 3},
        "other": 1,
    }
    assert result["default"].default_factory is list
    assert type(result["tuple"]) is tuple
    assert type(result["point"]) is Point
    assert type(result["ordered"]) is OrderedDict
    assert value["list"] == ["${pipeline.n}", "x${a.s}"]  # the input is not modified


STEPS: dict[str, list[str] | None] = {"prep": ["data", "rows"], "task_step": None}


def test_validate_refs_returns_referenced_steps() -> None:
    value = {"x": "${prep.data}", "y": ["${task_step.artifacts.out}", "${pipeline.lr}"]}
    assert refs.validate_refs(value, where="w", steps=STEPS, pipeline_args={"lr"}, recursive=True) == {
        "prep",
        "task_step",
    }
    assert refs.validate_refs("${prep.id}", where="w", steps=STEPS, pipeline_args=()) == {"prep"}


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (
            "${prepp.id}",
            "names unknown step 'prepp' \\(did you mean 'prep'\\? known steps: 'prep', 'task_step'\\)",
        ),
        ("${pipeline.lrr}", "unknown pipeline argument 'lrr' \\(did you mean 'lr'"),
        ("${prep.model}", "declares no return value 'model' \\(it returns: 'data', 'rows'\\)"),
        ("${task_step.data}", "runs a task, which has no return value 'data'"),
        ("${prep.models.output.x.url}", "must be an integer"),
        ("${prep.id", "unclosed"),
    ],
)
def test_validate_refs_errors_name_where(value: str, problem: str) -> None:
    where = "step 'train' parameter 'kwargs/x'"
    with pytest.raises(ValidationError, match=problem) as info:
        refs.validate_refs(value, where=where, steps=STEPS, pipeline_args={"lr"})
    assert str(info.value).startswith(where + ": ")


def test_validate_refs_with_no_pipeline_arguments_says_so() -> None:
    with pytest.raises(ValidationError, match="known pipeline arguments: none"):
        refs.validate_refs("${pipeline.x}", where="w", steps={}, pipeline_args=[])


def test_validate_refs_only_walks_containers_when_recursive() -> None:
    assert refs.validate_refs(["${nope.id}"], where="w", steps={}, pipeline_args=()) == set()


def test_a_return_value_named_like_a_field_is_reported_when_referenced() -> None:
    steps = {"prep": ["name", "rows"]}
    with pytest.raises(ValidationError, match=r"'\$\{prep.name\}' is ambiguous.*rename that return value"):
        refs.validate_refs("${prep.name}", where="w", steps=steps, pipeline_args=())
    assert refs.validate_refs("${prep.rows}", where="w", steps=steps, pipeline_args=()) == {"prep"}
    assert "name" in refs.FIELDS and "id" in refs.FIELDS and "rows" not in refs.FIELDS
