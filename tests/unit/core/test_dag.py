from __future__ import annotations

import itertools

import pytest

from ductwork.core import dag
from ductwork.core.errors import ValidationError


def test_topo_order_puts_parents_first_and_keeps_insertion_order_for_ties() -> None:
    parents = {"a": [], "d": ["b"], "b": [], "c": ["a"], "e": ["d", "c"]}
    assert dag.topo_order(parents) == ["a", "b", "d", "c", "e"]  # d was added before c


def test_topo_order_is_stable_for_independent_steps() -> None:
    parents = {name: [] for name in ["z", "y", "x", "w"]}
    assert dag.topo_order(parents) == ["z", "y", "x", "w"]


def test_duplicate_parent_entries_count_once() -> None:
    parents = {"a": [], "b": ["a", "a"]}
    assert dag.topo_order(parents) == ["a", "b"]
    assert dag.children(parents) == {"a": ["b"], "b": []}


def test_children_descendants_ancestors() -> None:
    parents = {"src": [], "l": ["src"], "r": ["src"], "join": ["l", "r"], "alone": []}
    assert dag.children(parents) == {"src": ["l", "r"], "l": ["join"], "r": ["join"], "join": [], "alone": []}
    assert dag.descendants(parents, "src") == {"l", "r", "join"}
    assert dag.descendants(parents, "join") == set()
    assert dag.ancestors(parents, "join") == {"src", "l", "r"}
    assert dag.ancestors(parents, "alone") == set()


def test_descendants_of_unknown_step_names_it() -> None:
    with pytest.raises(ValidationError, match=r"unknown step 'srcc'.*did you mean 'src'"):
        dag.descendants({"src": []}, "srcc")


def test_unknown_parent_names_step_and_parent() -> None:
    with pytest.raises(
        ValidationError, match=r"step 'train' has unknown parent 'prepp' \(did you mean 'prep'"
    ):
        dag.validate({"prep": [], "train": ["prepp"]})


def test_own_parent() -> None:
    with pytest.raises(ValidationError, match="step 'a' lists itself as a parent"):
        dag.validate({"a": ["a"]})


def test_cycle_names_its_steps_in_order() -> None:
    parents = {"start": [], "a": ["start", "c"], "b": ["a"], "c": ["b"], "end": ["c"]}
    with pytest.raises(ValidationError) as info:
        dag.validate(parents)
    message = str(info.value)
    assert "cycle" in message
    cycle = message.split(": ", 1)[1].split(" -> ")
    assert cycle[0] == cycle[-1]
    assert set(cycle) == {"a", "b", "c"}
    # each step on the printed cycle is a parent of the next one
    for parent, child in itertools.pairwise(cycle):
        assert parent in parents[child]


def test_two_step_cycle() -> None:
    with pytest.raises(ValidationError, match=r"cycle: (x -> y -> x|y -> x -> y)"):
        dag.topo_order({"x": ["y"], "y": ["x"]})


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "must not be empty"),
        ("   ", "must not be empty"),
        (" a", "whitespace"),
        ("a.b", r"'\.'"),
        ("a${b}", r"'\$'"),
        ("a\nb", "contains"),
        ("pipeline", "reserved"),
        (3, "must be a string"),
        ("x" * 300, "longer than"),
    ],
)
def test_bad_names(name: object, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        dag.validate({name: []})  # type: ignore[dict-item]


def test_names_with_spaces_dashes_and_unicode_are_fine() -> None:
    dag.validate({"step one": [], "step-2": ["step one"], "étape_3": ["step-2"]})


def test_parents_must_be_a_list_of_names() -> None:
    with pytest.raises(ValidationError, match="parents must be a list"):
        dag.validate({"a": [], "b": "a"})
    with pytest.raises(ValidationError, match="parent 1 is not a step name"):
        dag.validate({"a": [], "b": [1]})  # type: ignore[list-item]


def test_large_fan_out() -> None:
    parents: dict[str, list[str]] = {"source": []}
    parents.update({f"s{i}": ["source"] for i in range(10_000)})
    parents["reduce"] = [f"s{i}" for i in range(10_000)]
    order = dag.topo_order(parents)
    assert order[0] == "source" and order[-1] == "reduce" and len(order) == 10_002
    assert order[1:4] == ["s0", "s1", "s2"]
    assert len(dag.descendants(parents, "source")) == 10_001
    reversed_insertion = dict(reversed(list(parents.items())))
    assert dag.topo_order(reversed_insertion) == [
        "source",
        *[f"s{i}" for i in range(9_999, -1, -1)],
        "reduce",
    ]


def test_long_chain_does_not_recurse() -> None:
    parents = {"s0": []} | {f"s{i}": [f"s{i - 1}"] for i in range(1, 50_000)}
    assert dag.topo_order(parents)[-1] == "s49999"
    assert len(dag.ancestors(parents, "s49999")) == 49_999


def test_steps_added_before_their_parents_are_ordered_by_readiness_then_insertion() -> None:
    parents = {"report": ["train", "test"], "test": ["train"], "train": ["prep"], "prep": [], "other": []}
    # other is ready from the start but was added after train, test and report
    assert dag.topo_order(parents) == ["prep", "train", "test", "report", "other"]
