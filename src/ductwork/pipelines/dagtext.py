"""The `Pipeline` configuration's text: each step's entry, compact, kept while the step is final.

A field at its default value is left out of a step's entry (readers take the default:
`runformat.read_dag`, `stored.nodes_from_config`, the server's run view), which makes an entry
about a third of its full size: a run of 10,000 steps fits the store's bound on a configuration
object. A run writes its DAG again and again while it goes on; the entry of a step in a final
state is encoded once and reused while its spec and state stay the same, so a write costs the
steps that changed, not every step of the run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ductwork.core.states import NODE_FINAL
from ductwork.pipelines.node import Node

_DEFAULTS: dict[str, Any] = {}
_ALWAYS = frozenset({"parents"})  # the DAG's shape, said even when a step has none


def entry(node: Node) -> dict[str, Any]:
    """The node's entry without the fields at their defaults."""
    if not _DEFAULTS:
        _DEFAULTS.update(Node(name="default").to_dict())
        for name in _ALWAYS:
            del _DEFAULTS[name]
    return {k: v for k, v in node.to_dict().items() if k not in _DEFAULTS or v != _DEFAULTS[k]}


class DagText:
    def __init__(self) -> None:
        # step name -> (its spec and state key when encoded, its encoded `"name": {...}`)
        self._kept: dict[str, tuple[object, tuple[Any, ...], str]] = {}

    def text(self, nodes: Mapping[str, Node]) -> str:
        parts = []
        for name, node in list(nodes.items()):  # a snapshot: components may be added meanwhile
            parts.append(self._encoded(name, node))
        return "{" + ",".join(parts) + "}"

    def _encoded(self, name: str, node: Node) -> str:
        state = node.state
        if state.status not in NODE_FINAL:
            return _encode(name, node)
        key = (
            state.status,
            state.job_id,
            state.executed,
            state.job_type,
            state.job_started,
            state.job_ended,
            state.skip_job,
            state.attempt,
            state.cache_note,
        )
        kept = self._kept.get(name)
        if kept is not None and kept[0] is node.spec and kept[1] == key:
            return kept[2]
        text = _encode(name, node)
        self._kept[name] = (node.spec, key, text)
        return text


def _encode(name: str, node: Node) -> str:
    # compact: the C encoder (an indent would use the pure-Python one, ~10x slower on big DAGs)
    return json.dumps(name) + ":" + json.dumps(entry(node), default=str)
