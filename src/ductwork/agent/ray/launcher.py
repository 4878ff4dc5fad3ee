"""The agent's side of a Ray queue: what a task asks for, and the driver process that runs it.

The agent hands `start` what it would run locally; the Ray launcher keeps the task's `script`
(laid out again on the node) and its ductwork variables, reads the task's queue and runtime
resources, and starts `python -m ductwork.agent.ray.driver REQUEST` as the task's process.
The request (address, amounts, script, variables) goes in a private file (mode 0600: it holds
the task's API key) that the driver reads and deletes; this process never imports Ray.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ductwork.agent.process import ConsoleStream, TaskProcess
from ductwork.agent.ray import resources
from ductwork.core.errors import DuctworkError
from ductwork.process import Child, spawn

DRIVER = "ductwork.agent.ray.driver"
# Variables of the agent's that must not reach the node: the node's own home, a local pipe.
_LOCAL_ONLY = ("DUCTWORK_PIPE", "DUCTWORK_HOME")


class RayTaskProcess(TaskProcess):
    """The driver process; its request file goes when it ends (the driver deletes it first
    unless it died before reading it)."""

    def __init__(self, child: Child, console: ConsoleStream, request: Path) -> None:
        super().__init__(child, console)
        self._request = request

    def finish(self) -> None:
        super().finish()
        self._request.unlink(missing_ok=True)


class RayLauncher:
    """Starts each task as a driver of a Ray task on the cluster at `address`."""

    def __init__(self, backend: Any, address: str, queues: Mapping[str, Mapping[str, float]]) -> None:
        self._backend = backend
        self.address = address
        self._queues = {name: dict(amounts) for name, amounts in queues.items()}

    def start(
        self,
        script: Mapping[str, object],
        argv: Sequence[str],
        *,
        cwd: Path,
        env: dict[str, str],
        paths: list[str],
        console: ConsoleStream,
    ) -> TaskProcess:
        """Start the driver; a task asking for resources it may not ask for fails here."""
        task_id = env["DUCTWORK_TASK_ID"]
        task = self._backend.get_task(task_id)
        queue = self._queues.get(task.queue or "")
        amounts = resources.asked(queue, task.runtime.get(resources.RUNTIME_KEY), task_id)
        request = {
            "address": self.address,
            "task_id": task_id,
            "claim": {"worker": task.worker, "started": task.started},
            "resources": amounts,
            "script": dict(script),
            "env": node_env(env),
        }
        path = _private_file(json.dumps(request))
        console.write(
            f"running on the Ray cluster at {self.address} with {resources.describe(amounts)}", "ductwork"
        )
        try:
            child = spawn([sys.executable, "-m", DRIVER, str(path)], cwd=cwd, env=env, die_with_parent=True)
        except OSError:
            path.unlink(missing_ok=True)
            raise
        return RayTaskProcess(child, console, path)

    def close(self) -> None:
        """Nothing to close: each driver holds its own connection."""


def node_env(env: Mapping[str, str]) -> dict[str, str]:
    """The variables the task process needs on the node: ductwork's (its id, how to reach the
    server), never the agent's own home or pipe; the embedded store's home only with its URL
    (a one-machine cluster, where the nodes see the same files)."""
    chosen = {k: v for k, v in env.items() if k.startswith("DUCTWORK_") and k not in _LOCAL_ONLY}
    if "DUCTWORK_DB_URL" in chosen and "DUCTWORK_API_URL" not in chosen and "DUCTWORK_HOME" in env:
        chosen["DUCTWORK_HOME"] = env["DUCTWORK_HOME"]
    return chosen


def _private_file(text: str) -> Path:
    handle, name = tempfile.mkstemp(prefix="ductwork-ray-", suffix=".json")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:
        os.unlink(name)
        raise DuctworkError(f"cannot write the Ray request: {exc}") from exc
    return Path(name)
