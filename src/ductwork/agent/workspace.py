"""Reproduces a task's code in a private work folder.

What runs is decided by `ductwork.core.launch.plan` (the same rules as local-mode steps:
`module`, then `repository`, then standalone `code`). This module does the agent's part:
clone the repository, check out the commit (or branch), apply the uncommitted diff, and
write standalone files, all inside the work folder; the task then runs in that folder, or in
the checkout, plus its relative `working_dir`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ductwork.core import launch
from ductwork.process import checkout as git
from ductwork.process.checkout import CodeError

__all__ = ["CodeError", "Workspace", "prepare"]


@dataclass
class Workspace:
    """How to run a task: `args` after the interpreter, in `cwd`, with `python_path` importable."""

    args: list[str]
    cwd: Path
    python_path: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # for the task's console, before it starts

    @property
    def shell_script(self) -> bool:
        return bool(self.args) and self.args[0].endswith(".sh")


def prepare(task_id: str, script: dict[str, Any], folder: Path) -> Workspace:
    """Lay the task's code out under `folder` (an empty folder owned by this run)."""
    checkout = _checkout(script, folder / "repo") if script.get("repository") else None
    plan = launch.plan(
        task_id,
        script,
        folder=str(folder),
        exists=os.path.exists,
        checkout=None if checkout is None else str(checkout),
    )
    cwd = Path(plan.cwd)
    if plan.make_cwd:
        cwd.mkdir(parents=True, exist_ok=True)
    if not cwd.is_dir():
        raise CodeError(f"task {task_id}: its working folder {cwd} (script.working_dir) does not exist")
    for path, content in plan.files.items():
        Path(path).write_text(content, encoding="utf-8")
    # The entry script's folder and the checkout root are importable, as when run by hand.
    python_path = [str(cwd)] + ([str(checkout)] if checkout is not None else [])
    return Workspace(list(plan.argv), cwd, python_path, [plan.note] if plan.note else [])


def _checkout(script: dict[str, Any], target: Path) -> Path:
    """The task's repository at its commit (or branch), its uncommitted diff applied."""
    revision = script.get("commit") or script.get("branch")
    diff = str(script.get("diff") or "")
    return git.clone(str(script["repository"]), target, str(revision) if revision else None, diff)
