"""Server-side layout of a run's DAG, drawn top to bottom by the run page's canvas.

A layered (Sugiyama-style) layout in four linear-ish passes:

1. fan-outs: at least `group_min` siblings collapse into one *group* node ("train x32", a box
   with counts per status) when they have the same parents and children, or the same parent
   boxes and the same function (their names less a trailing number: `train`, `train_1`, ...).
   Steps are taken layer by layer, so a chain of fan-outs (`train_i -> eval_i`) collapses
   into a chain of groups. A group named in `expanded` (its key) is drawn step by step;
2. layers: each node sits one layer below its deepest parent (longest path from the sources);
3. order: a few barycenter sweeps inside each layer to cut edge crossings;
4. position: each node wants the mean horizontal position of its neighbours; an isotonic
   regression keeps the layer's order and spacing while moving nodes as little as possible.

Top to bottom because pipelines are mostly chains with modest fan-outs: a chain of ten steps
then fits a screen at a readable size, where left to right it would need three screens.

The stored `Pipeline` configuration can be edited by hand, so the input is never trusted: unknown
parents are dropped and edges that close a cycle are ignored rather than raised on. Results are
cached per DAG digest, so every viewer of a run shares one computation.
"""

from __future__ import annotations

import gc
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ductwork.core.patterns import Pattern

__all__ = ["GROUP_MIN", "LaidOutNode", "Layout", "collector_paused", "dag_digest", "layout_dag"]

GROUP_MIN = 12  # siblings needed before a fan-out is drawn as one group node
NODE_W = 216.0
NODE_H = 56.0
GROUP_H = 76.0  # room for the per-status count bar
LAYER_GAP = 56.0  # vertical room for edges between two layers
COLUMN_GAP = 24.0
_SWEEPS = 4
_CACHE_SIZE = 64


@dataclass(frozen=True)
class LaidOutNode:
    key: str  # the step name, or "group:<first member>" for a group
    label: str
    x: float  # top-left corner
    y: float
    w: float
    h: float
    layer: int
    members: tuple[str, ...]  # the steps this box stands for (one for a plain step)

    @property
    def is_group(self) -> bool:
        return self.key.startswith("group:")


@dataclass(frozen=True)
class Layout:
    digest: str
    nodes: tuple[LaidOutNode, ...]
    edges: tuple[tuple[int, int], ...]  # indexes into `nodes`, parent -> child
    width: float
    height: float

    def to_json(self) -> dict[str, Any]:
        """The compact shape the canvas reads: columns, not objects, to keep 10,000 nodes small."""
        return {
            "digest": self.digest,
            "width": self.width,
            "height": self.height,
            "node_w": NODE_W,
            "keys": [n.key for n in self.nodes],
            "labels": [n.label for n in self.nodes],
            "x": [n.x for n in self.nodes],
            "y": [n.y for n in self.nodes],
            "h": [n.h for n in self.nodes],
            "members": {i: list(n.members) for i, n in enumerate(self.nodes) if n.is_group},
            "edges": [list(e) for e in self.edges],
        }


def dag_digest(
    parents: Mapping[str, Sequence[str]], group_min: int = GROUP_MIN, expanded: Collection[str] = ()
) -> str:
    """A stable hash of the DAG's shape (names, parents, order), the grouping threshold and the
    groups shown open."""
    shape = [group_min, [[name, list(ps)] for name, ps in parents.items()], sorted(expanded)]
    text = json.dumps(shape, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


_cache: OrderedDict[str, Layout] = OrderedDict()
_cache_lock = threading.Lock()


def layout_dag(
    parents: Mapping[str, Sequence[str]], *, group_min: int = GROUP_MIN, expanded: Collection[str] = ()
) -> Layout:
    """The layout of `parents` (step -> its parent steps, in the order steps were added); cached.

    `group_min=0` disables grouping (every step gets its own box); the groups whose keys
    (`group:<first member>`) are in `expanded` are drawn step by step.
    """
    expanded = frozenset(expanded)
    digest = dag_digest(parents, group_min, expanded)
    with _cache_lock:
        hit = _cache.get(digest)
        if hit is not None:
            _cache.move_to_end(digest)
            return hit
    with collector_paused():
        layout = _compute(parents, group_min, digest, expanded)
    with _cache_lock:
        _cache[digest] = layout
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return layout


@contextmanager
def collector_paused() -> Iterator[None]:
    """Hold the cyclic garbage collector off while a page allocates many small objects.

    Layouts and record reads make no reference cycles, yet every few hundred allocations the
    collector would walk every live object of the server: that alone doubled their time.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _compute(
    parents: Mapping[str, Sequence[str]], group_min: int, digest: str, expanded: frozenset[str] = frozenset()
) -> Layout:
    names = list(parents)
    index = {name: i for i, name in enumerate(names)}
    ups = [sorted({index[p] for p in parents[name] if p in index and p != name}) for name in names]
    ups = _drop_cycle_edges(ups)
    boxes, up_edges = _group_fanouts(names, ups, group_min, expanded)
    layer = _assign_layers(up_edges)
    downs: list[list[int]] = [[] for _ in boxes]
    for child, ps in enumerate(up_edges):
        for p in ps:
            downs[p].append(child)
    layers = _order_layers(layer, up_edges, downs)
    heights = [GROUP_H if len(members) > 1 else NODE_H for members in boxes]
    xs = _place_rows(layers, up_edges, downs, [NODE_W] * len(boxes))
    # Each layer is as tall as its tallest box; boxes are centred in their layer's band.
    band = [max((heights[i] for i in row), default=NODE_H) for row in layers]
    tops = [0.0] * len(layers)
    for at in range(1, len(layers)):
        tops[at] = tops[at - 1] + band[at - 1] + LAYER_GAP

    nodes = []
    for i, members in enumerate(boxes):
        grouped = len(members) > 1
        nodes.append(
            LaidOutNode(
                key=f"group:{members[0]}" if grouped else members[0],
                label=_group_label(members) if grouped else members[0],
                x=xs[i],
                y=tops[layer[i]] + (band[layer[i]] - heights[i]) / 2,
                w=NODE_W,
                h=heights[i],
                layer=layer[i],
                members=tuple(members),
            )
        )
    edges = tuple((p, c) for c, ps in enumerate(up_edges) for p in ps)
    width = max((n.x + n.w for n in nodes), default=0.0)
    height = tops[-1] + band[-1] if layers else 0.0
    return Layout(digest=digest, nodes=tuple(nodes), edges=edges, width=width, height=height)


def _drop_cycle_edges(ups: list[list[int]]) -> list[list[int]]:
    """Keep only edges that agree with a DFS finishing order, so what remains is acyclic."""
    state = [0] * len(ups)  # 0 new, 1 on the stack, 2 done
    kept: list[list[int]] = [[] for _ in ups]
    for root in range(len(ups)):
        if state[root]:
            continue
        state[root] = 1
        stack = [(root, iter(ups[root]))]
        while stack:
            node, it = stack[-1]
            for parent in it:
                if state[parent] == 1:
                    continue  # parent is an ancestor on this walk: the edge closes a cycle
                kept[node].append(parent)
                if state[parent] == 0:
                    state[parent] = 1
                    stack.append((parent, iter(ups[parent])))
                    break
            else:
                state[node] = 2
                stack.pop()
    return kept


def _group_fanouts(
    names: list[str], ups: list[list[int]], group_min: int, expanded: frozenset[str] = frozenset()
) -> tuple[list[list[str]], list[list[int]]]:
    """Collapse big sets of interchangeable siblings; returns each box's members and its parent boxes."""
    downs: list[list[int]] = [[] for _ in names]
    for child, ps in enumerate(ups):
        for p in ps:
            downs[p].append(child)
    box_of = list(range(len(names)))
    # What children are grouped by: a group drawn open still counts as one parent, so opening
    # `train x32` leaves `evaluate x32` below it collapsed.
    fan_of = list(range(len(names)))
    if group_min > 0:
        rows: dict[int, list[int]] = {}
        for i, at in enumerate(_assign_layers(ups)):
            rows.setdefault(at, []).append(i)
        for at in sorted(rows):  # parents' boxes are settled before their children are grouped
            _group_row(names, ups, downs, rows[at], (box_of, fan_of), group_min, expanded)
    # Renumber boxes densely, in the order their first member was added.
    number: dict[int, int] = {}
    boxes: list[list[str]] = []
    for i, head in enumerate(box_of):
        if head not in number:
            number[head] = len(boxes)
            boxes.append([])
        boxes[number[head]].append(names[i])
    # A group's members share parent boxes, unless one of those groups is drawn open: then the
    # group has an edge from each of its members' parents.
    ups_of: list[dict[int, None]] = [{} for _ in boxes]
    for i, ps in enumerate(ups):
        here = ups_of[number[box_of[i]]]
        for p in ps:
            here.setdefault(number[box_of[p]])
    return boxes, [list(found) for found in ups_of]


def _group_row(
    names: list[str],
    ups: list[list[int]],
    downs: list[list[int]],
    row: list[int],
    boxes: tuple[list[int], list[int]],
    group_min: int,
    expanded: frozenset[str],
) -> None:
    """Group one layer's steps: by the same parent fan-outs and children, then by the same
    parent fan-outs and function; each group's head (its first member) is the box all members
    point at (`box_of`) unless the group is drawn open, and the fan-out they count as (`fan_of`)."""
    box_of, fan_of = boxes
    if len(row) < group_min:
        return  # too few steps in this layer for any group
    by_shape: dict[tuple[tuple[int, ...], tuple[int, ...]], list[int]] = {}
    by_function: dict[tuple[tuple[int, ...], str], list[int]] = {}
    for i in row:
        up, down = ups[i], downs[i]
        if not up and not down:
            continue  # lone steps are not a fan-out
        # one parent and one child, the common case, without a set and a sort
        parent_boxes = (fan_of[up[0]],) if len(up) == 1 else tuple(sorted({fan_of[p] for p in up}))
        children = tuple(down) if len(down) < 2 else tuple(sorted(down))
        by_shape.setdefault((parent_boxes, children), []).append(i)
        by_function.setdefault((parent_boxes, _function_of(names[i])), []).append(i)
    taken: set[int] = set()
    for siblings in (*by_shape.values(), *by_function.values()):
        members = [s for s in siblings if s not in taken]
        if len(members) < group_min:
            continue
        drawn_open = f"group:{names[members[0]]}" in expanded
        for s in members:
            fan_of[s] = members[0]
            if not drawn_open:
                box_of[s] = members[0]
            taken.add(s)


_NUMBERED = Pattern(r"[_\-. ]?\d+$")


def _function_of(name: str) -> str:
    """A step's name less its call number: `train_12` and `train` are calls of `train`."""
    return _NUMBERED.sub("", name) or name


def _assign_layers(ups: list[list[int]]) -> list[int]:
    """Longest path from the sources, by Kahn's order (the graph is acyclic here)."""
    waiting = [len(ps) for ps in ups]
    downs: list[list[int]] = [[] for _ in ups]
    for c, ps in enumerate(ups):
        for p in ps:
            downs[p].append(c)
    layer = [0] * len(ups)
    ready = [i for i, w in enumerate(waiting) if w == 0]
    while ready:
        node = ready.pop()
        for c in downs[node]:
            layer[c] = max(layer[c], layer[node] + 1)
            waiting[c] -= 1
            if waiting[c] == 0:
                ready.append(c)
    return layer


def _order_layers(layer: list[int], ups: list[list[int]], downs: list[list[int]]) -> list[list[int]]:
    """Nodes of each layer in drawing order, after barycenter sweeps down then up."""
    layers: list[list[int]] = [[] for _ in range(max(layer, default=-1) + 1)]
    for node, at in enumerate(layer):
        layers[at].append(node)
    pos = [0.0] * len(layer)
    for row in layers:
        for i, node in enumerate(row):
            pos[node] = float(i)
    for sweep in range(_SWEEPS):
        downward = sweep % 2 == 0
        order = range(1, len(layers)) if downward else range(len(layers) - 2, -1, -1)
        neighbours = ups if downward else downs
        for at in order:
            row = layers[at]
            keyed = []
            for node in row:
                ns = neighbours[node]
                # Nodes without neighbours on that side keep their place.
                keyed.append((sum(pos[n] for n in ns) / len(ns) if ns else pos[node], pos[node], node))
            keyed.sort()
            layers[at] = row = [k[2] for k in keyed]
            for i, node in enumerate(row):
                pos[node] = float(i)
    return layers


def _place_rows(
    layers: list[list[int]], ups: list[list[int]], downs: list[list[int]], sizes: list[float]
) -> list[float]:
    """Positions along each layer (left edges): near the neighbours' centres, in order, never overlapping."""
    centre = [0.0] * len(sizes)
    for row in layers:
        _pack(row, [0.0] * len(row), sizes, centre)
    # Down sweep pulls children to their parents, up sweep pulls parents to their children; the
    # final down sweep makes chains straight, which readers notice most.
    for neighbours, order in (
        (ups, range(1, len(layers))),
        (downs, range(len(layers) - 2, -1, -1)),
        (ups, range(1, len(layers))),
    ):
        for at in order:
            row = layers[at]
            wanted = []
            for node in row:
                ns = neighbours[node]
                wanted.append(sum(centre[n] for n in ns) / len(ns) if ns else centre[node])
            _pack(row, wanted, sizes, centre)
    left = min((centre[i] - sizes[i] / 2 for i in range(len(sizes))), default=0.0)
    return [centre[i] - sizes[i] / 2 - left for i in range(len(sizes))]


def _pack(row: list[int], wanted: list[float], sizes: list[float], centre: list[float]) -> None:
    """Least-squares centres for `row` near `wanted`, keeping order and a gap (pool adjacent violators).

    With offsets o_i (the least distance from the first centre), the centres are c_i = z_i + o_i
    for a non-decreasing z; the best z is the isotonic regression of wanted_i - o_i.
    """
    offsets = [0.0] * len(row)
    for i in range(1, len(row)):
        offsets[i] = offsets[i - 1] + (sizes[row[i - 1]] + sizes[row[i]]) / 2 + COLUMN_GAP
    blocks: list[list[float]] = []  # [mean, count]
    for i in range(len(row)):
        blocks.append([wanted[i] - offsets[i], 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            mean, count = blocks.pop()
            prev = blocks[-1]
            prev[0] = (prev[0] * prev[1] + mean * count) / (prev[1] + count)
            prev[1] += count
    i = 0
    for mean, count in blocks:
        for _ in range(int(count)):
            centre[row[i]] = mean + offsets[i]
            i += 1


def _group_label(members: Sequence[str]) -> str:
    """`prefix xN` from the members' common prefix, so `train_0..train_499` reads `train x500`."""
    first, last = min(members), max(members)
    n = 0
    while n < min(len(first), len(last)) and first[n] == last[n]:
        n += 1
    stem = first[:n].rstrip("_-. ") or "steps"
    return f"{stem} x{len(members)}"
