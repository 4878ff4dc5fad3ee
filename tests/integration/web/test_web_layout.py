"""The run page's DAG layout: layered, ordered, non-overlapping, grouped fan-outs, tolerant input."""

from __future__ import annotations

import itertools
import random

from ductwork.server.services.layout import COLUMN_GAP, GROUP_MIN, Layout, dag_digest, layout_dag


def _by_key(layout: Layout) -> dict[str, int]:
    return {n.key: i for i, n in enumerate(layout.nodes)}


def _assert_no_overlap(layout: Layout) -> None:
    layers: dict[int, list[tuple[float, float]]] = {}
    for n in layout.nodes:
        layers.setdefault(n.layer, []).append((n.x, n.x + n.w))
    for spans in layers.values():
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert start >= end + COLUMN_GAP - 1e-6


def test_children_sit_below_every_parent_on_the_longest_path() -> None:
    parents = {"load": [], "clean": ["load"], "features": ["clean"], "train": ["load", "features"]}
    layout = layout_dag(parents)
    at = _by_key(layout)
    layers = {k: layout.nodes[i].layer for k, i in at.items()}
    assert layers == {"load": 0, "clean": 1, "features": 2, "train": 3}
    for child, ps in parents.items():
        for p in ps:
            assert layout.nodes[at[p]].y + layout.nodes[at[p]].h < layout.nodes[at[child]].y
            assert (at[p], at[child]) in layout.edges


def test_a_chain_is_drawn_straight_and_a_diamond_is_centred() -> None:
    chain = layout_dag({"a": [], "b": ["a"], "c": ["b"]})
    assert len({n.x for n in chain.nodes}) == 1
    diamond = layout_dag({"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]})
    at = _by_key(diamond)
    a, b, c, d = (diamond.nodes[at[k]] for k in "abcd")
    assert b.x != c.x and b.y == c.y
    assert abs(a.x - (b.x + c.x) / 2) < 1e-6
    assert abs(a.x - d.x) < 1e-6


def test_layers_never_overlap_and_sizes_cover_every_node() -> None:
    rng = random.Random(7)
    parents: dict[str, list[str]] = {}
    for layer in range(12):
        for j in range(15):
            parents[f"s{layer}_{j}"] = (
                [f"s{layer - 1}_{k}" for k in rng.sample(range(15), 3)] if layer else []
            )
    # Every step a box of its own (grouping off): the geometry of many crossing edges is the point.
    layout = layout_dag(parents, group_min=0)
    assert len(layout.nodes) == len(parents)
    _assert_no_overlap(layout)
    assert min(n.x for n in layout.nodes) == 0 and min(n.y for n in layout.nodes) == 0
    assert all(n.x + n.w <= layout.width + 1e-6 and n.y + n.h <= layout.height + 1e-6 for n in layout.nodes)


def test_barycenter_ordering_removes_avoidable_crossings() -> None:
    # Added in a crossing order: x1 feeds y2 and x2 feeds y1.
    parents = {"x1": [], "x2": [], "y2": ["x1"], "y1": ["x2"]}
    layout = layout_dag(parents)
    at = _by_key(layout)
    x1, x2, y1, y2 = (layout.nodes[at[k]] for k in ("x1", "x2", "y1", "y2"))
    assert (x1.x < x2.x) == (y2.x < y1.x)


def test_large_fan_out_becomes_one_group_node_with_its_members() -> None:
    parents: dict[str, list[str]] = {"src": []}
    maps = [f"map_{i}" for i in range(500)]
    parents.update({m: ["src"] for m in maps})
    parents["reduce"] = maps
    layout = layout_dag(parents)
    assert len(layout.nodes) == 3
    group = layout.nodes[1]
    assert group.is_group and group.members == tuple(maps)
    assert group.label == "map x500"
    assert layout.edges == ((0, 1), (1, 2))
    assert layout.to_json()["members"] == {1: maps}


def test_small_fan_outs_and_different_shapes_stay_separate() -> None:
    parents: dict[str, list[str]] = {"a": [], "b": []}
    parents.update({f"x{i}": ["a"] for i in range(GROUP_MIN - 1)})
    parents.update({f"y{i}": ["a", "b"] for i in range(GROUP_MIN)})
    layout = layout_dag(parents)
    groups = [n for n in layout.nodes if n.is_group]
    assert [g.members for g in groups] == [tuple(f"y{i}" for i in range(GROUP_MIN))]
    assert sum(len(n.members) for n in layout.nodes) == len(parents)
    assert len(layout_dag(parents, group_min=0).nodes) == len(parents)


def test_hand_edited_dag_with_cycles_and_unknown_parents_still_lays_out() -> None:
    parents = {"a": ["c", "ghost"], "b": ["a", "b"], "c": ["b"], "d": ["a"]}
    layout = layout_dag(parents)
    assert sorted(n.key for n in layout.nodes) == ["a", "b", "c", "d"]
    # What is drawn is acyclic: every edge goes to a later layer.
    for p, c in layout.edges:
        assert layout.nodes[p].layer < layout.nodes[c].layer


def test_layout_is_cached_by_shape_and_empty_dag_is_empty() -> None:
    parents = {"a": [], "b": ["a"]}
    assert layout_dag(parents) is layout_dag(dict(parents))
    assert dag_digest(parents) != dag_digest({"a": [], "b": []})
    assert dag_digest(parents) != dag_digest(parents, group_min=0)
    empty = layout_dag({})
    assert empty.nodes == () and empty.width == 0 and empty.height == 0


def test_ten_thousand_steps_lay_out_with_every_node_placed() -> None:
    rng = random.Random(3)
    parents: dict[str, list[str]] = {}
    for layer in range(100):
        for j in range(100):
            parents[f"s{layer}_{j}"] = (
                [f"s{layer - 1}_{k}" for k in rng.sample(range(100), 2)] if layer else []
            )
    layout = layout_dag(parents, group_min=0)
    assert len(layout.nodes) == 10_000 and len(layout.edges) == 19_800
    # Grouped, each layer's calls of one function under the previous layer's group are one box
    # (steps with no child are not a fan-out and keep their own).
    grouped = layout_dag(parents)
    assert len(grouped.nodes) < 300 and sum(len(n.members) for n in grouped.nodes) == 10_000
    _assert_no_overlap(grouped)
    _assert_no_overlap(layout)


def test_calls_of_one_function_collapse_layer_by_layer_into_a_chain_of_groups() -> None:
    """`train`, `train_1`... (a decorator's calls of one component) each with its own `eval`:
    not the same children, yet one function under the same parent: `train x32 -> eval x32`."""
    trains = ["train", *(f"train_{i}" for i in range(1, 32))]
    evals = ["eval", *(f"eval_{i}" for i in range(1, 32))]
    parents: dict[str, list[str]] = {"load": []}
    parents.update({t: ["load"] for t in trains})
    parents.update({e: [t] for e, t in zip(evals, trains, strict=True)})
    parents["report"] = evals
    layout = layout_dag(parents)
    assert [n.label for n in layout.nodes] == ["load", "train x32", "eval x32", "report"]
    assert [n.members for n in layout.nodes][1:3] == [tuple(trains), tuple(evals)]
    assert layout.edges == ((0, 1), (1, 2), (2, 3))
    # Other functions under the same parent stay apart; fewer than GROUP_MIN calls stay apart.
    parents.update({f"probe_{i}": ["load"] for i in range(GROUP_MIN - 1)})
    labels = [n.label for n in layout_dag(parents).nodes]
    assert "train x32" in labels and sum(label.startswith("probe_") for label in labels) == GROUP_MIN - 1


def test_an_expanded_group_is_drawn_step_by_step_and_cached_apart() -> None:
    parents: dict[str, list[str]] = {"src": []}
    maps = [f"map_{i}" for i in range(40)]
    parents.update({m: ["src"] for m in maps})
    parents.update({f"side_{i}": ["src"] for i in range(20)})
    parents["reduce"] = maps
    grouped = layout_dag(parents)
    keys = [n.key for n in grouped.nodes if n.is_group]
    assert keys == ["group:map_0", "group:side_0"]
    opened = layout_dag(parents, expanded=["group:map_0", "group:nothing-such", "x\x00y"])
    assert [n.key for n in opened.nodes if n.is_group] == ["group:side_0"]
    assert len(opened.nodes) == len(grouped.nodes) - 1 + 40
    assert opened.digest != grouped.digest
    assert layout_dag(parents) is grouped


def test_opening_a_stage_keeps_the_stage_below_it_collapsed() -> None:
    trains = [f"train_{i}" for i in range(32)]
    parents: dict[str, list[str]] = {"load": []}
    parents.update({t: ["load"] for t in trains})
    parents.update({f"eval_{i}": [t] for i, t in enumerate(trains)})
    opened = layout_dag(parents, expanded=["group:train_0"])
    assert [n.label for n in opened.nodes] == ["load", *trains, "eval x32"]
    # the group hangs below each of its members' parents
    assert sorted(p for p, c in opened.edges if c == 33) == list(range(1, 33))
