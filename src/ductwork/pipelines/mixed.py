"""`start_locally(in_process=True)` with steps made from existing tasks: function steps are
called in this process, task steps (clones of a base task, pipelines as steps) run as local
processes, as `run_pipeline_steps_locally=True` runs them. They have no function to call."""

from __future__ import annotations

from ductwork.pipelines.node import Node
from ductwork.pipelines.seams import Executor, Report


class MixedExecutor:
    """Sends each step to the executor for its kind: `inline` for a function step, `process`
    for the others."""

    def __init__(self, inline: Executor, process: Executor) -> None:
        self._inline = inline
        self._process = process

    def _for(self, node: Node) -> Executor:
        return self._inline if node.spec.function is not None else self._process

    def start(self, node: Node, report: Report) -> None:
        self._for(node).start(node, report)

    def abort(self, node: Node) -> None:
        self._for(node).abort(node)

    def close(self) -> None:
        try:
            self._inline.close()
        finally:
            self._process.close()
