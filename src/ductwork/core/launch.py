"""How a task's stored code becomes a process: shared by local-mode steps and agents.

A task's `script` says what runs, in this order of precedence:
* `module`: `python -m <module>` (function steps use `ductwork.sdk.runner`, which reads the
  generated code from the task itself); with a `repository` too (`add_function_step(repo=)`),
  it runs inside the checkout, so the code imports the repository's modules;
* `repository`: a git checkout (the agent clones it) and `entry_point` inside `working_dir`;
* `code`: a standalone script, written to `entry_point` in the task's own folder.

Where it runs is `script.working_dir`, a folder relative to the task's code, so that the task
runs on any machine (as a ClearML agent reads it):
* with a `repository`: relative to the repository root (`"."` is the root itself);
* otherwise relative to the task's own folder: the fresh folder an agent makes for each task,
  where a standalone script is written; in local mode the controller's current folder, as if
  the user had run the step's code by hand where they started the pipeline.

A relative folder may not lead out of that folder (`../data`) and no path may hold a NUL byte.
An absolute folder (given by a user, or recorded by an older version that stored the
controller's folder) is used where it exists: this machine, or a mount every machine shares.
Where it does not exist, a task without a repository runs in its own folder instead and says
so on its console. A repository task runs inside its checkout: an absolute folder outside it
(recorded on the machine that made the task) becomes the folder of the checkout that holds the
entry point, as the tail of that path (`/home/me/project/src` -> `src`); when none does, the
task is refused.
"""

from __future__ import annotations

import ntpath
import os
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from ductwork.core.errors import ValidationError

HERE = "."
# What a pipeline's controller task runs besides a user's script (`script.module`): REPLAY runs
# its stored DAG (a pipeline as a step, a resumed run, a PipelineController built outside a
# script); REBUILD calls a @PipelineDecorator.pipeline function by module and name.
REPLAY = "ductwork.sdk.replay"
REBUILD = "ductwork.pipelines.rebuild"
# A controller task whose code cannot rebuild its pipeline elsewhere records why here, in its
# `script`: the UI and the API then refuse NEW RUN with that sentence instead of starting a run
# that cannot do what its name says.
CANNOT_RERUN = "cannot_rerun"


@dataclass(frozen=True)
class Launch:
    argv: list[str]  # after the interpreter
    cwd: str  # where the process runs, an absolute path
    files: dict[str, str] = field(default_factory=dict)  # absolute path -> content to write first
    make_cwd: bool = False  # cwd is a new folder inside the task's own folder: create it
    note: str = ""  # for the task's console: why cwd is not the recorded working_dir


def plan(
    task_id: str,
    script: dict[str, Any],
    *,
    folder: str,
    exists: Callable[[str], bool],
    checkout: str | None = None,
    here: str | None = None,
) -> Launch:
    """What to run for a task, and where.

    `folder` is the task's own fresh work folder (absolute); `checkout` is where its repository
    was cloned, if it has one; `here` is, in local mode, the folder a step runs relative to
    instead of `folder` (the controller's current folder). `exists` answers whether a path
    exists on this machine (the caller's file system: this module does no I/O)."""
    args = [str(a) for a in script.get("args") or []]
    working_dir = working_folder(f"task {task_id}", script.get("working_dir"))
    module = script.get("module")
    if module and checkout is not None:  # a function step from a repository: inside its checkout
        return _in_checkout(task_id, ["-m", str(module), *args], working_dir, checkout, exists)
    if module:
        return _place(task_id, ["-m", str(module), *args], working_dir, folder, here, exists)
    entry = str(script.get("entry_point") or "")
    if script.get("repository"):
        if checkout is None:
            raise ValidationError(f"task {task_id}: its code is in a git repository that was not checked out")
        if not entry:
            raise ValidationError(f"task {task_id}: script.entry_point is empty")
        return _in_checkout(task_id, [entry, *args], working_dir, checkout, exists)
    if script.get("code"):
        path = os.path.join(folder, _file_name(task_id, entry))
        placed = _place(task_id, [path, *args], working_dir, folder, here, exists)
        return Launch(placed.argv, placed.cwd, {path: str(script["code"])}, placed.make_cwd, placed.note)
    if entry and os.path.isabs(entry):  # a script by its path on this machine (recorded by hand)
        cwd = working_dir if _absolute(working_dir) else os.path.dirname(entry)
        return Launch([entry, *args], cwd)
    why = str(script.get(CANNOT_RERUN) or "") or "script has no module, repository or code"
    raise ValidationError(f"task {task_id} has no code to run ({why})")


def rerun_refusal(script: dict[str, Any]) -> str:
    """Why a task with this `script` cannot run again elsewhere, as recorded when it was made
    ("" when nothing was: a task made by hand without code fails on its agent, saying so)."""
    return str(script.get(CANNOT_RERUN) or "")


def working_folder(owner: str, value: object, name: str = "script.working_dir") -> str:
    """A recorded (or user-given) working folder, checked: `"."` when empty, an absolute path as
    it is, a relative one normalised. NUL bytes and relative paths leading out raise, naming
    the `owner` ("task 1f2e...", "step 'train'") and the field."""
    if value is None or value == "":
        return HERE
    if not isinstance(value, str):
        raise ValidationError(f"{owner}: {name} must be a string, got {type(value).__name__}")
    if "\0" in value:
        raise ValidationError(f"{owner}: {name} {value!r} holds a NUL byte")
    if _absolute(value):
        return os.path.normpath(value)
    relative = posixpath.normpath(value.replace("\\", "/"))
    if relative == ".." or relative.startswith("../"):
        raise ValidationError(
            f"{owner}: {name} {value!r} leads out of the folder it is relative to "
            "(the repository root, or the task's own folder)"
        )
    return relative


def _absolute(path: str) -> bool:
    """Absolute here, or on the Windows machine that may have recorded it (`C:\\work`)."""
    return os.path.isabs(path) or ntpath.isabs(path)


def _place(
    task_id: str,
    argv: list[str],
    working_dir: str,
    folder: str,
    here: str | None,
    exists: Callable[[str], bool],
) -> Launch:
    """Where a task without a repository runs: relative to its own folder (or `here`)."""
    base = here or folder
    if not _absolute(working_dir):
        cwd = os.path.normpath(os.path.join(base, working_dir))
        return Launch(argv, cwd, make_cwd=here is None and cwd != base)
    if exists(working_dir):
        return Launch(argv, working_dir)
    note = (
        f"task {task_id}: its working_dir {working_dir} does not exist on this machine "
        f"(recorded where the task was made); it runs in {base} instead"
    )
    return Launch(argv, base, note=note)


def _in_checkout(
    task_id: str, argv: list[str], working_dir: str, checkout: str, exists: Callable[[str], bool]
) -> Launch:
    """Where a repository task runs: `working_dir` inside the checkout."""
    root = os.path.normpath(checkout)
    if not _absolute(working_dir):
        return Launch(argv, os.path.normpath(os.path.join(root, working_dir)))
    if os.path.isabs(working_dir) and os.path.commonpath([working_dir, root]) == root:
        return Launch(argv, working_dir)
    entry = argv[0]
    # An older version recorded the absolute folder of the machine that made the task
    # (`/home/me/project/src`): its tail that holds the entry point in the checkout is where
    # it ran in the repository (`src`), the longest such tail first.
    parts = PurePosixPath(working_dir.replace("\\", "/")).parts[1:]
    tails = [posixpath.join(*parts[start:]) for start in range(len(parts)) if ".." not in parts[start:]]
    for tail in [*tails, HERE]:
        cwd = os.path.normpath(os.path.join(root, tail))
        if exists(os.path.join(cwd, entry)):
            note = (
                f"task {task_id}: its working_dir {working_dir} is a folder of the machine that made it; "
                f"it runs in {posixpath.normpath(tail)!r} of its repository, where {entry} is"
            )
            return Launch(argv, cwd, note=note)
    raise ValidationError(
        f"task {task_id}: script.working_dir {working_dir!r} is not inside its repository and no folder "
        f"of the repository holds {entry!r}; name the folder relative to the repository root "
        "(e.g. 'src' or '.')"
    )


def _file_name(task_id: str, entry: str) -> str:
    """The file a standalone script is written to: the entry point's own name."""
    if "\0" in entry:
        raise ValidationError(f"task {task_id}: script.entry_point {entry!r} holds a NUL byte")
    name = posixpath.basename(entry.replace("\\", "/"))
    return name if name not in ("", ".", "..") else "task_script.py"
