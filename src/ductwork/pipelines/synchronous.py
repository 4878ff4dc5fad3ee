"""ClearML's debug mode for decorator pipelines: each component runs as a plain function call
in the thread that called it, before that call returns.

That is what makes a pipeline debuggable: a breakpoint or `pdb.set_trace()` in a component
stops the caller's own thread, with the pipeline function's frames under it. The step is still
recorded as a task (created, cached or skipped by the run as in any mode); only where its call
runs differs. A call whose step cannot start yet (its `parents=` names a step not called yet)
is not waited for: it runs on the pool when it can, as in `InlineExecutor`.
"""

from __future__ import annotations

import threading
from typing import Any

from ductwork.pipelines.engine import Engine
from ductwork.pipelines.executors import InlineExecutor
from ductwork.pipelines.node import Node
from ductwork.pipelines.seams import Report


class CallerExecutor(InlineExecutor):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._handover = threading.Condition()
        self._claimed: dict[str, int] = {}  # steps whose callers wait to run them: their threads
        self._handed: dict[str, Report] = {}
        self._watching: set[int] = set()  # the engines that wake us when a step ends
        self._waiting = 0  # callers waiting on `_handover` (usually none: a call starts its own step)

    def start(self, node: Node, report: Report) -> None:
        with self._handover:
            caller = self._claimed.get(node.name)
            if caller is not None:
                self._reports[node.name] = report
                self._handed[node.name] = report
                if caller != threading.get_ident():  # its caller waits elsewhere, not in this pump
                    self._handover.notify_all()
                return
        super().start(node, report)

    def run_here(self, engine: Engine, node: Node) -> None:
        """Run `node`'s call in this thread once the run starts it; return at once when it ends
        without running (cached, skipped) or cannot start before later calls are made.
        `node` was added with `here=True`: this thread handles its addition (`Engine.pump`),
        which usually starts it at once, and its reports."""
        if any(not engine.has(parent) for parent in node.spec.parents):
            engine.pump()
            return
        with self._handover:
            if id(engine) not in self._watching:  # a step that ends without running wakes us
                self._watching.add(id(engine))
                engine.when_final(self._wake)
            self._claimed[node.name] = threading.get_ident()
        engine.pump()
        with self._handover:
            self._waiting += 1
            try:
                while node.name not in self._handed and not engine.is_done(node.name):
                    self._handover.wait(1.0)  # woken by start() or `_wake`; the timeout is a safety net
            finally:
                self._waiting -= 1
            handed = self._handed.pop(node.name, None)
            self._claimed.pop(node.name, None)
        job, function = node.state.job, node.spec.function
        if handed is not None and job is not None and function is not None:
            self._run(node, engine.report_here, job, function)

    def _wake(self) -> None:
        # Read without the lock: a caller counts itself, then looks at its step, under the lock;
        # a step made final before this read is seen there, so a caller never waits on it.
        if self._waiting:
            with self._handover:
                self._handover.notify_all()
