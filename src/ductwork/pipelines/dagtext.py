"""The `Pipeline` configuration's text: each step's entry, compact, kept while the step is final.

A field at its default value is left out of a step's entry (readers take the default:
`runformat.read_dag`, `stored.nodes_from_config`, the server's run view), which makes an entry
about a third of its full size. A run writes its DAG again and again while it goes on; the entry
of a step in a final state is encoded once (as its state is flushed: `encode`) and reused while
its spec and state stay the same, so a write joins entries instead of encoding every step.

A DAG longer than `runformat.DAG_PART_CHARS` is written in parts, "Pipeline", "Pipeline.2", ...,
each an object of whole steps, so a run of any size fits the store's bound on one configuration
object, and a write stores only the parts that changed (a long run's early steps are final):
its cost follows the steps added since, not the run's size. When a run writes fewer parts than
are stored (a copy of a bigger run), an empty part ends them for readers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from ductwork.core import jsontext
from ductwork.core.runformat import DAG_CONFIG, DAG_PART, DAG_PART_CHARS, STEP_FIELDS
from ductwork.core.states import NODE_FINAL
from ductwork.pipelines.node import Node, source_of
from ductwork.pipelines.spec import StepOptions

_ALWAYS = frozenset({"parents"})  # the DAG's shape, said even when a step has none


class _Fields:
    """`Node.to_dict()`'s fields by where they are read, with their defaults: an entry reads the
    spec's and the state's attributes directly, and the options' part once per options object
    (a decorator's component shares one among all its calls)."""

    def __init__(self) -> None:
        defaults = Node(name="default").to_dict()
        self.default = {name: value for name, value in defaults.items() if name not in _ALWAYS}
        self.options: list[tuple[str, str, bool]] = []
        self.spec: list[tuple[str, str, bool]] = []
        self.state: list[tuple[str, str]] = []
        self.other: list[str] = []  # properties (job_type, job_code_section): read through the node
        for name in STEP_FIELDS:
            if name == "job_id":
                continue  # `to_dict` says the step's task (`state.task_id`)
            where, attr, as_list = source_of(name)
            if where == "options":
                self.options.append((name, attr, as_list))
            elif where == "spec":
                self.spec.append((name, attr, as_list))
            elif where == "state":
                self.state.append((name, attr))
            else:
                self.other.append(name)

    def of_options(self, options: StepOptions) -> dict[str, Any]:
        return self._differing(options, self.options)

    def _differing(self, holder: object, fields: list[tuple[str, str, bool]]) -> dict[str, Any]:
        out = {}
        default = self.default
        for name, attr, as_list in fields:
            value = getattr(holder, attr)
            if as_list and value is not None:
                value = list(value)
            if name not in default or value != default[name]:
                out[name] = value
        return out

    def entry(self, node: Node, options_part: dict[str, Any]) -> dict[str, Any]:
        state, default = node.state, self.default
        out = self._differing(node.spec, self.spec)
        out.update(options_part)
        for name, attr in self.state:
            value = getattr(state, attr)
            if value != default[name]:
                out[name] = value
        for name in self.other:
            value = getattr(node, name)
            if value != default[name]:
                out[name] = value
        if state.task_id != default["job_id"]:
            out["job_id"] = state.task_id
        return out


_fields: _Fields | None = None


def _the_fields() -> _Fields:
    global _fields
    if _fields is None:
        _fields = _Fields()
    return _fields


def entry(node: Node) -> dict[str, Any]:
    """The node's entry without the fields at their defaults."""
    fields = _the_fields()
    return fields.entry(node, fields.of_options(node.spec.options))


class DagText:
    def __init__(self, part_chars: int | None = None) -> None:
        self.part_chars = part_chars or DAG_PART_CHARS
        # step name -> (its spec and state key when encoded, its encoded `"name": {...}`)
        self._kept: dict[str, tuple[object, tuple[Any, ...], str]] = {}
        # an options object's part of an entry, kept with the object (its id is not reused)
        self._options: dict[int, tuple[StepOptions, dict[str, Any]]] = {}
        self._stored = 1  # parts the store may hold: those written, or read from a copied run
        self._written: dict[str, str] = {}  # each part's text as last stored

    def stored_parts(self, count: int) -> None:
        """The run's task already holds `count` parts (it is a copy of another run)."""
        self._stored = max(self._stored, count)

    def encode(self, nodes: Iterable[Node]) -> None:
        """Encode the entries of those of `nodes` that are final, ahead of the next write."""
        for node in nodes:
            if node.state.status in NODE_FINAL:
                self._encoded(node.name, node)

    def writes(self, nodes: Mapping[str, Node]) -> list[tuple[str, str]]:
        """The configuration objects to write: (name, text) for each part that changed since it
        was stored (`wrote`), and an empty part after the last when fewer parts are written than
        the store may hold. The steps of a long run's early parts are final: a write costs the
        parts its new steps are in, not the whole DAG again."""
        texts = self.texts(nodes)
        names = [DAG_CONFIG, *(DAG_PART.format(i) for i in range(2, len(texts) + 1))]
        out = [
            (name, text) for name, text in zip(names, texts, strict=True) if self._written.get(name) != text
        ]
        if len(texts) < self._stored:
            out.append((DAG_PART.format(len(texts) + 1), ""))
        return out

    def wrote(self, name: str, text: str) -> None:
        """Part `name` is stored as `text`."""
        self._written[name] = text
        number = 1 if name == DAG_CONFIG else int(name.rpartition(".")[2])
        # the empty part that ends them: those after it are no longer read
        self._stored = max(self._stored, number) if text else number - 1

    def texts(self, nodes: Mapping[str, Node]) -> list[str]:
        """The DAG as JSON objects of whole steps, each at most `part_chars` long when its
        steps allow (a single step is never split)."""
        parts: list[list[str]] = [[]]
        size = 2
        for name, node in dict(nodes).items():  # a snapshot: components may be added meanwhile
            encoded = self._encoded(name, node)
            if parts[-1] and size + len(encoded) + 1 > self.part_chars:
                parts.append([])
                size = 2
            parts[-1].append(encoded)
            size += len(encoded) + 1
        return ["{" + ",".join(part) + "}" for part in parts]

    def _encoded(self, name: str, node: Node) -> str:
        state = node.state
        if state.status not in NODE_FINAL:
            return self._encode(name, node)
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
        text = self._encode(name, node)
        self._kept[name] = (node.spec, key, text)
        return text

    def _encode(self, name: str, node: Node) -> str:
        fields = _the_fields()
        options = node.spec.options
        known = self._options.get(id(options))
        if known is None or known[0] is not options:
            known = self._options[id(options)] = (options, fields.of_options(options))
        # compact: the C encoder (an indent would use the pure-Python one, ~10x slower on big DAGs)
        return json.dumps(name) + ":" + _ENTRY(fields.entry(node, known[1]))


# What `json.dumps(..., default=str)` makes at each call, made once (it keeps no state).
_ENTRY = jsontext.encoder(default=str)
