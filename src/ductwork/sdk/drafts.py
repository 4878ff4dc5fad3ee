"""Draft tasks made by `Task.create`: what to run (a script or module, maybe from a repository),
its requirements and container, its arguments, on a base task or from nothing.

Everything is read and checked first (`Draft.checked`), so bad input leaves no half-made task
behind; then one write makes the draft (`Draft.create`).
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ductwork.client.contract import Backend
from ductwork.core import launch
from ductwork.core.errors import ValidationError
from ductwork.core.records import TaskRecord
from ductwork.sdk import script as scripts
from ductwork.sdk.checks import check_type, optional_str, require_str, str_list

DEFAULT_PROJECT = "default"

# `Task.create(argparse_args=...)`: (name, value) pairs; a value is any JSON-able parameter.
ArgumentPairs = Sequence[tuple[str, Any]]


@dataclass
class Draft:
    project_name: str | None
    task_name: str | None
    task_type: str | None
    script: dict[str, object]  # the record's `script` part: code, entry point, repository, folder
    requirements: str | None  # pip lines; None: not given
    container: dict[str, str]
    arguments: dict[str, Any]  # `Args/<name>` -> value
    default_name: str

    @classmethod
    def checked(
        cls,
        project_name: str | None,
        task_name: str | None,
        task_type: str | None,
        code: Code,
        packages: bool | Sequence[str] | None,
        requirements_file: str | Path | None,
        docker: tuple[str | None, str | None, str | None],
        argparse_args: ArgumentPairs | None,
    ) -> Draft:
        optional_str("project_name", project_name)
        optional_str("task_name", task_name)
        if task_type is not None:
            check_type(task_type)
        return cls(
            project_name,
            task_name,
            task_type,
            code.script_part(),
            _requirements(packages, requirements_file),
            _container(*docker),
            _arguments(argparse_args),
            code.name(),
        )

    def create(self, backend: Backend, base_task_id: str | None) -> TaskRecord:
        """The draft's record: a clone of the base task with these changes, or a new task."""
        if base_task_id is not None:
            return self._on_base(backend, base_task_id)
        project = backend.ensure_project(self.project_name or DEFAULT_PROJECT).id
        record = TaskRecord(
            name=self.task_name or self.default_name,
            project=project,
            user=user_name(),
            script=self.script,
            requirements={"pip": self.requirements} if self.requirements is not None else {},
            container=dict(self.container),
        )
        if self.task_type is not None:
            record.type = self.task_type
        return backend.create_task(record)

    def _on_base(self, backend: Backend, base_task_id: str) -> TaskRecord:
        base = backend.get_task(base_task_id)
        project = backend.ensure_project(self.project_name).id if self.project_name else base.project
        record = backend.clone_task(base_task_id, name=self.task_name or base.name, project=project)
        changes: dict[str, object] = {} if self.task_type is None else {"type": self.task_type}
        if self.script:
            changes["script"] = {**record.script, **self.script}
        if self.requirements is not None:
            changes["requirements"] = {**record.requirements, "pip": self.requirements}
        if self.container:
            changes["container"] = {**record.container, **self.container}
        return backend.edit_task(record.id, changes) if changes else record


@dataclass
class Code:
    """What a draft runs, as `Task.create` was given it."""

    script: str | None
    module: str | None
    repo: str | None
    branch: str | None
    commit: str | None
    working_directory: str | None
    binary: str | None
    add_task_init_call: bool

    def script_part(self) -> dict[str, object]:
        """`working_directory` is relative to the root of `repo`, else to the task's own folder
        (where an agent writes `script`). By default: the script's folder in its repository
        when it lies in a checkout of `repo`, else that own folder. An absolute folder is used
        only where it exists (`ductwork.core.launch` has the rules). With `repo`, a relative
        `script` is a path in the repository (it need not exist here); an absolute one is read
        from this machine, as in ClearML."""
        if self.script is not None and self.module is not None:
            raise ValidationError("Task.create: give script or module, not both")
        if self.script is not None:
            require_str("script", self.script)
        if self.script is not None and self.repo is not None and not _absolute(self.script):
            part = _in_repository(self.script, self.working_directory)
        else:
            part = self._local_script()
        given = (
            ("module", self.module),
            ("repository", self.repo),
            ("branch", self.branch),
            ("commit", self.commit),
        )
        for key, value in given:
            if value is not None:
                require_str(key, value)
                part[key] = value
        if self.binary is not None:
            part["binary"] = self.binary
        return part

    def _local_script(self) -> dict[str, object]:
        """A script read from this machine (or no script): its code, and where it runs."""
        part = dict(scripts.from_file(self.script, self.add_task_init_call)) if self.script else {}
        if self.working_directory is not None:
            require_str("working_directory", self.working_directory)
            folder = os.path.expanduser(self.working_directory)
            part["working_dir"] = launch.working_folder("Task.create", folder, "working_directory")
        elif self.script and self.repo:
            part["working_dir"] = scripts.folder_in_repository(self.script)
        return part

    def name(self) -> str:
        if self.script:
            return Path(self.script).stem
        return self.module or "task"


def _absolute(path: str) -> bool:
    return os.path.isabs(os.path.expanduser(path))


def _in_repository(script: str, working_directory: str | None) -> dict[str, object]:
    """A script named by its path in the repository (as ClearML takes it): `working_dir` is
    relative to the repository root ("." by default) and the entry point is the script's path
    from there, with the working folder's prefix taken off (`src/train.py` run in `src` is
    `train.py`). Nothing of this machine is read: the agent runs the checkout's file."""
    folder = launch.working_folder("Task.create", working_directory or launch.HERE, "working_directory")
    entry = launch.working_folder("Task.create", script, "script")
    if entry == launch.HERE or entry.endswith("/"):
        raise ValidationError(f"Task.create: script {script!r} is not a file path in the repository")
    if folder != launch.HERE and entry.startswith(folder + "/"):
        entry = entry[len(folder) + 1 :]
    return {"entry_point": entry, "working_dir": folder}


def user_name() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return ""


def _requirements(packages: bool | Sequence[str] | None, requirements_file: str | Path | None) -> str | None:
    """pip requirement lines from a requirements file or a list (None: not given)."""
    if requirements_file is not None:
        path = Path(requirements_file).expanduser()
        if not path.is_file():
            raise ValidationError(f"Task.create: requirements file {str(requirements_file)!r} does not exist")
        return path.read_text(encoding="utf-8")
    if packages is None or packages is False:
        return None
    if packages is True:
        return ""
    return "\n".join(str_list("packages", packages))


def _container(image: str | None, arguments: str | None, setup: str | None) -> dict[str, str]:
    container: dict[str, str] = {}
    for key, value in (("image", image), ("arguments", arguments), ("setup_shell_script", setup)):
        if value:
            require_str(key if key != "setup_shell_script" else "docker_bash_setup_script", value)
            container[key] = value
    return container


def _arguments(pairs: ArgumentPairs | None) -> dict[str, Any]:
    if not pairs:
        return {}
    arguments = {}
    for pair in pairs:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2 or not isinstance(pair[0], str):
            raise ValidationError(f"argparse_args must be (name, value) pairs, got {pair!r}")
        arguments[f"Args/{pair[0]}"] = pair[1]
    return arguments
