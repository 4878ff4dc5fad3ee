"""What runs on a Ray node: the task's code laid out in a folder of the node's own, run as a
process with the node's interpreter, its output sent back in batches as it comes.

`run` is a generator, so Ray streams what it yields to the driver (`driver.py`) while the task
runs: first where it runs (`{"node": ...}`), then batches of console lines, last the exit code.
A cancel reaches it as an exception at a `yield` or inside its short waits; the `finally` then
stops the task's whole process group (`kill_tree`). The process also dies with the Ray worker
that started it (`die_with_parent`), for a forced cancel or a worker killed outright.
"""

from __future__ import annotations

import os
import queue
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from ductwork.agent import workspace
from ductwork.process import Output, kill_tree, spawn

# How long the loop waits for output before it looks at the process again.
POLL_S = 0.1
# How long the output pipes may stay open after the process ended (a grandchild holding them).
DRAIN_S = 5.0
# A cancelled task's process group gets this long between SIGTERM and SIGKILL.
GRACE_S = 2.0

Event = dict[str, Any]


def run(task_id: str, script: dict[str, Any], env: Mapping[str, str]) -> Iterator[Event]:
    """Lay out and run the task on this node; yields where, console batches, and the exit code."""
    yield {"node": _node()}
    folder = Path(tempfile.mkdtemp(prefix=f"ductwork-{task_id[:8]}-"))
    try:
        space = workspace.prepare(task_id, script, folder)
        if space.notes:
            yield {"lines": [["ductwork", note] for note in space.notes]}
        argv = ["bash", *space.args] if space.shell_script else [sys.executable, *space.args]
        child = spawn(argv, cwd=space.cwd, env=_env(env, space.python_path), die_with_parent=True)
        try:
            yield from _stream(child)
        finally:
            if child.poll(0) is None:
                kill_tree(child, GRACE_S)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _stream(child: Any) -> Iterator[Event]:
    lines: queue.Queue[list[list[str]]] = queue.Queue()
    output = Output(child, lambda stream, batch: lines.put([[stream, line] for line in batch]))
    code: int | None = None
    while code is None:
        code = child.poll(POLL_S)
        batch = _drain(lines)
        if batch:
            yield {"lines": batch}
    output.join(DRAIN_S)
    batch = _drain(lines)
    if batch:
        yield {"lines": batch}
    yield {"exit": code}


def _drain(lines: queue.Queue[list[list[str]]]) -> list[list[str]]:
    batch: list[list[str]] = []
    while True:
        try:
            batch.extend(lines.get_nowait())
        except queue.Empty:
            return [[stream, text.removesuffix("\r")] for stream, text in batch]


def _env(given: Mapping[str, str], python_path: list[str]) -> dict[str, str]:
    """The node's own environment, with the task's ductwork variables and its code importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUCTWORK_") and k != "PYTHONHOME"}
    env.update(given)
    paths = [*python_path, *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _node() -> dict[str, str]:
    import ray

    ip = ray.util.get_node_ip_address()  # type: ignore[no-untyped-call]  # Ray leaves it untyped
    return {"ip": str(ip), "id": ray.get_runtime_context().get_node_id()}
