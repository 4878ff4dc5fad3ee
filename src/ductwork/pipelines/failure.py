"""Why a component's value is missing: the step that failed, and its error.

Using the value of a component that did not complete raises `ValueError` (ClearML's error type
for it), saying which step failed and why; a component skipped because an ancestor failed names
that ancestor, rather than standing for None.
"""

from __future__ import annotations

from collections.abc import Mapping

from ductwork.client.contract import Backend
from ductwork.core.states import NodeStatus
from ductwork.pipelines.node import Node

_UNKNOWN = "no error was recorded"


def value_error(backend: Backend, nodes: Mapping[str, Node], node: Node) -> ValueError | None:
    """The error using `node`'s value raises; None when its value is None (skipped by a callback
    or as a draft, or failed with continue_on_fail / aborted with continue_on_abort)."""
    if node.status == NodeStatus.skipped:
        cause = failed_ancestor(nodes, node)
        if cause is None:
            return None
        return ValueError(
            f'Pipeline step "{node.name}" was skipped: step "{cause.name}", Task ID={cause.job_id}'
            f" {cause.status}: {error_of(backend, cause)}"
        )
    if node.continue_on_fail or (node.status == NodeStatus.aborted and node.continue_on_abort):
        return None
    return ValueError(
        f'Pipeline step "{node.name}", Task ID={node.job_id} {node.status}: {error_of(backend, node)}'
    )


def failed_ancestor(nodes: Mapping[str, Node], node: Node) -> Node | None:
    """The failed (or aborted) step a skipped step was skipped for, through skipped parents."""
    seen: set[str] = set()
    waiting = list(node.parents)
    while waiting:
        parent = nodes.get(waiting.pop(0))
        if parent is None or parent.name in seen:
            continue
        seen.add(parent.name)
        if parent.status in (NodeStatus.failed, NodeStatus.aborted):
            return parent
        if parent.status == NodeStatus.skipped:
            waiting.extend(parent.parents)
    return None


def error_of(backend: Backend, node: Node) -> str:
    """Why a step did not complete: the engine's message, else what its task recorded (a step
    the store settled, say, carries no message of the engine's)."""
    if node.error or not node.job_id:
        return node.error or _UNKNOWN
    task = backend.get_task(str(node.job_id))
    return task.status_reason or task.status_message or _UNKNOWN
