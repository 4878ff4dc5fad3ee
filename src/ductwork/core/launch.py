"""How a task's stored code becomes a process: shared by local-mode steps and agents.

A task's `script` says what runs, in this order of precedence:
* `module`: `python -m <module>` (function steps use `ductwork.sdk.runner`, which reads the
  generated code from the task itself);
* `repository`: a git checkout (the agent clones it) and `entry_point` inside `working_dir`;
* `code`: a standalone script, written to `entry_point` in a fresh folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ductwork.core.errors import ValidationError


@dataclass(frozen=True)
class Launch:
    argv: list[str]  # after the interpreter
    cwd: str | None  # None: the caller's folder
    files: dict[str, str] = field(default_factory=dict)  # relative path -> content to write first


def plan(task_id: str, script: dict[str, Any], *, checkout: str | None = None) -> Launch:
    """What to run for a task; `checkout` is where its repository was cloned, if it has one."""
    args = [str(a) for a in script.get("args") or []]
    working_dir = script.get("working_dir") or ""
    module = script.get("module")
    if module:
        cwd = working_dir if working_dir and os.path.isabs(working_dir) else None
        return Launch(["-m", str(module), *args], cwd)
    entry = script.get("entry_point") or ""
    if script.get("repository"):
        if checkout is None:
            raise ValidationError(f"task {task_id}: its code is in a git repository that was not checked out")
        if not entry:
            raise ValidationError(f"task {task_id}: script.entry_point is empty")
        return Launch([entry, *args], os.path.join(checkout, working_dir))
    if script.get("code"):
        name = os.path.basename(entry) or "task_script.py"
        return Launch([name, *args], None, {name: str(script["code"])})
    if entry and os.path.isabs(entry):
        return Launch([entry, *args], working_dir or os.path.dirname(entry))
    raise ValidationError(f"task {task_id} has no code to run (script has no module, repository or code)")
