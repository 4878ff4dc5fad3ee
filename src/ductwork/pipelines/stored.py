"""A pipeline as the store keeps it: the DAG of a `Pipeline` configuration and each function
step's code, enough to run a run again (resume, a pipeline as a step) without its author's script."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ductwork.core.records import ConfigObject
from ductwork.core.runformat import CODE_REPOSITORY, STEP_FIELDS
from ductwork.pipelines.node import Node as StepNode
from ductwork.pipelines.spec import with_repository


@dataclass(frozen=True)
class StoredCode:
    """A function step's code as stored on the controller (a rerun needs no live function)."""

    source: str
    name: str
    requirements: list[str]
    digest: str


def nodes_from_config(
    dag_json: Mapping[str, Mapping[str, Any]],
    configs: Mapping[str, ConfigObject],
    *,
    keep: Mapping[str, StepNode],
) -> dict[str, StepNode]:
    """Nodes rebuilt from a stored `Pipeline` configuration; function steps get their stored
    code (and keep their live function and callbacks when the code defines the same step)."""
    nodes: dict[str, StepNode] = {}
    for name, data in dag_json.items():
        fields = {k: v for k, v in data.items() if k in STEP_FIELDS and k not in ("job_id",)}
        node = StepNode(name=name, **fields)
        node.job_id = data.get("job_id")
        section = data.get("job_code_section")
        if section and section in configs:
            stored = json.loads(configs[section].text)
            node.code = StoredCode(
                stored["code"], stored["function"], stored.get("requirements", []), stored.get("digest", "")
            )
            node.return_artifacts = stored.get("return", node.return_artifacts)
            repo = stored.get(CODE_REPOSITORY)
            if repo:  # repo=: the commit the run pinned, cloned again (checked as when defined)
                options = with_repository(
                    node.options, name, repo.get("repository"), repo.get("branch"), repo.get("commit")
                )
                node.spec = dataclasses.replace(node.spec, options=options)
        live = keep.get(name)
        if live is not None:
            node.function = live.function
            node.code = live.code if live.code is not None else node.code
            for attr in (
                "pre_execute_callback",
                "post_execute_callback",
                "status_change_callback",
                "retry",
                "task_factory_func",
            ):
                setattr(node, attr, getattr(live, attr))
        nodes[name] = node
    return nodes


def uncaptured(function: Callable[..., Any], reason: str) -> StoredCode:
    """What a function step without capturable source records: why, and a digest of its bytecode."""
    body = getattr(function, "__code__", None)
    fingerprint = repr((body.co_code, body.co_consts, body.co_names)) if body is not None else repr(function)
    title = getattr(function, "__qualname__", function)
    source = f"# The source of {title!s} could not be captured.\n# {reason}\n"
    return StoredCode(
        source, getattr(function, "__name__", "step"), [], hashlib.sha256(fingerprint.encode()).hexdigest()
    )
