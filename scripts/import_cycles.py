#!/usr/bin/env python3
"""List the import cycles among ductwork's modules; exit 1 if there is one.

    python3 scripts/import_cycles.py ductwork.sdk [ductwork.pipelines ...]

import-linter's contracts check layers between packages, not circles inside one, so this looks
at every module-to-module import within the packages named (default: all of ductwork). Every
import counts, also those inside a function or under `if TYPE_CHECKING:` (grimp reads them
all): a circle closed lazily still ties the modules together for a reader and for a refactor.

Each strongly connected group of modules is one finding; it is printed with a shortest cycle
through it and every import (file line) that keeps the group together, so the edge to cut is
in front of you.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping

import grimp

Graph = Mapping[str, set[str]]


def within(module: str, packages: Iterable[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def import_graph(packages: list[str]) -> tuple[grimp.ImportGraph, dict[str, set[str]]]:
    """The imports between modules of `packages` (grimp's graph of their root packages)."""
    roots = sorted({p.split(".")[0] for p in packages})
    graph = grimp.build_graph(*roots, include_external_packages=False)
    mods = {m for m in graph.modules if within(m, packages)}
    edges = {m: {n for n in graph.find_modules_directly_imported_by(m) if n in mods} for m in mods}
    return graph, edges


def strongly_connected(edges: Graph) -> list[list[str]]:
    """Tarjan's algorithm, iterative (a deep package would overflow Python's stack)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                groups.append(sorted(group))
    return [g for g in groups if len(g) > 1 or g[0] in edges[g[0]]]


def shortest_cycle(edges: Graph, group: list[str]) -> list[str]:
    """A shortest cycle through the group's first module (breadth first inside the group)."""
    start, members = group[0], set(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in sorted(edges[node] & members):
                if child == start:
                    return [*paths[node], start]
                if child not in paths:
                    paths[child] = [*paths[node], child]
                    following.append(child)
        frontier = following
    raise AssertionError(f"{start} is in a strongly connected group but on no cycle")


def report(graph: grimp.ImportGraph, edges: Graph, group: list[str]) -> str:
    lines = [f"cycle among {len(group)} modules: " + " -> ".join(shortest_cycle(edges, group))]
    members = set(group)
    for importer in group:
        for imported in sorted(edges[importer] & members):
            for detail in graph.get_import_details(importer=importer, imported=imported):
                where = f"{importer}:{detail['line_number']}"
                lines.append(f"    {where:<48} {detail['line_contents']}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    packages = argv or ["ductwork"]
    graph, edges = import_graph(packages)
    groups = strongly_connected(edges)
    for group in groups:
        print(report(graph, edges, group))
    modules = sum(len(g) for g in groups)
    print(f"{len(groups)} import cycle(s) ({modules} modules) in {', '.join(packages)}")
    return 1 if groups else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
