"""`TaskCatalog`: finding tasks (`get_task`, `get_tasks`, `query_tasks`) and making drafts (`create`)."""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ductwork import client
from ductwork.client.contract import Backend
from ductwork.core import launch
from ductwork.core.errors import NotFound, ValidationError
from ductwork.core.queries import TaskQuery
from ductwork.core.records import TaskRecord
from ductwork.sdk.checks import check_type, optional_str, require_str, str_list
from ductwork.sdk.hyperparams import Hyperparameters

DEFAULT_PROJECT = "default"

C = TypeVar("C", bound="TaskCatalog")


class TaskCatalog(Hyperparameters):
    @classmethod
    def get_task(
        cls: type[C],
        task_id: str | None = None,
        project_name: str | None = None,
        task_name: str | None = None,
        tags: Sequence[str] | None = None,
        allow_archived: bool = True,
        task_filter: Mapping[str, Any] | None = None,
    ) -> C:
        """A task by id, or the newest task named `task_name` in `project_name`."""
        backend = client.backend()
        if task_id is not None:
            require_str("task_id", task_id)
            return cls._wrap(backend.get_task(task_id), backend)
        if project_name is None and task_name is None:
            raise ValidationError("Task.get_task: give task_id, or project_name and/or task_name")
        found = find_records(
            backend, project_name, task_name, tags, allow_archived, task_filter, exact=True, limit=1
        )
        if not found:
            raise NotFound(f"no task named {task_name!r} in project {project_name!r}")
        return cls._wrap(found[0], backend)

    @classmethod
    def get_tasks(
        cls: type[C],
        task_ids: Sequence[str] | None = None,
        project_name: str | Sequence[str] | None = None,
        task_name: str | None = None,
        tags: Sequence[str] | None = None,
        allow_archived: bool = True,
        task_filter: Mapping[str, Any] | None = None,
    ) -> list[C]:
        """Tasks by ids, or matching project and name (`task_name` is a regular expression)."""
        backend = client.backend()
        if task_ids is not None:
            return [
                cls._wrap(record, backend) for record in backend.get_tasks(str_list("task_ids", task_ids))
            ]
        records: list[TaskRecord] = []
        for project in _projects(project_name):
            records += find_records(
                backend, project, task_name, tags, allow_archived, task_filter, exact=False
            )
        return [cls._wrap(record, backend) for record in records]

    @classmethod
    def query_tasks(
        cls,
        project_name: str | Sequence[str] | None = None,
        task_name: str | None = None,
        tags: Sequence[str] | None = None,
        additional_return_fields: Sequence[str] | None = None,
        task_filter: Mapping[str, Any] | None = None,
    ) -> list[str] | list[dict[str, Any]]:
        """Ids of matching tasks; with `additional_return_fields`, dicts of `id` and those fields."""
        backend = client.backend()
        records: list[TaskRecord] = []
        for project in _projects(project_name):
            records += find_records(backend, project, task_name, tags, True, task_filter, exact=False)
        if not additional_return_fields:
            return [record.id for record in records]
        fields = str_list("additional_return_fields", additional_return_fields)
        unknown = [name for name in fields if not hasattr(TaskRecord(), name)]
        if unknown:
            raise ValidationError(f"Task.query_tasks: unknown additional_return_fields {unknown}")
        return [{"id": r.id, **{name: getattr(r, name) for name in fields}} for r in records]

    @classmethod
    def create(
        cls: type[C],
        project_name: str | None = None,
        task_name: str | None = None,
        task_type: str | None = None,
        repo: str | None = None,
        branch: str | None = None,
        commit: str | None = None,
        script: str | None = None,
        working_directory: str | None = None,
        packages: bool | Sequence[str] | None = None,
        requirements_file: str | Path | None = None,
        docker: str | None = None,
        docker_args: str | None = None,
        docker_bash_setup_script: str | None = None,
        argparse_args: Sequence[tuple[str, Any]] | None = None,
        base_task_id: str | None = None,
        add_task_init_call: bool = True,
        force_single_script_file: bool = False,
        binary: str | None = None,
        module: str | None = None,
        detect_repository: bool = True,
    ) -> C:
        """A draft task (status created) to run a script or module later, e.g. by an agent.

        `working_directory` is where it runs, relative to its code: to the root of `repo`, else
        to the task's own folder (where an agent writes `script`). By default: the script's
        folder in its repository when it lies in a checkout of `repo`, else that own folder. An
        absolute folder is used only where it exists (`ductwork.core.launch` has the rules)."""
        from ductwork.sdk import script as scripts

        optional_str("project_name", project_name)
        optional_str("task_name", task_name)
        if task_type is not None:
            check_type(task_type)
        if script is not None and module is not None:
            raise ValidationError("Task.create: give script or module, not both")
        # Everything is read and checked first: bad input leaves no half-made task behind.
        fields: dict[str, Any] = {}
        if task_type is not None:
            fields["type"] = task_type
        script_part = dict(scripts.from_file(script, add_task_init_call)) if script else {}
        if working_directory is not None:  # relative to the repository root, else the task's folder
            require_str("working_directory", working_directory)
            folder = os.path.expanduser(working_directory)
            script_part["working_dir"] = launch.working_folder("Task.create", folder, "working_directory")
        elif script and repo:  # the script's place in the repository, when it lies in a checkout of it
            script_part["working_dir"] = scripts.folder_in_repository(script)
        for key, value in (("module", module), ("repository", repo), ("branch", branch), ("commit", commit)):
            if value is not None:
                require_str(key, value)
                script_part[key] = value
        if binary is not None:
            script_part["binary"] = binary
        requirements = _requirements(packages, requirements_file)
        container = _container(docker, docker_args, docker_bash_setup_script)
        arguments = _arguments(argparse_args)
        backend = client.backend()
        if base_task_id is not None:
            base = backend.get_task(base_task_id)
            project = backend.ensure_project(project_name).id if project_name else base.project
            record = backend.clone_task(base_task_id, name=task_name or base.name, project=project)
            changes = {
                **fields,
                **({"script": {**record.script, **script_part}} if script_part else {}),
                **(
                    {"requirements": {**record.requirements, "pip": requirements}}
                    if requirements is not None
                    else {}
                ),
                **({"container": {**record.container, **container}} if container else {}),
            }
            if changes:
                record = backend.edit_task(record.id, changes)
        else:
            project = backend.ensure_project(project_name or DEFAULT_PROJECT).id
            record = backend.create_task(
                TaskRecord(
                    name=task_name or _name_of(script, module),
                    project=project,
                    user=user_name(),
                    script=script_part,
                    requirements={"pip": requirements} if requirements is not None else {},
                    container=container,
                    **fields,
                )
            )
        task = cls._wrap(record, backend)
        if arguments:
            task.update_parameters(arguments)
        return task


def find_records(
    backend: Backend,
    project_name: str | None,
    task_name: str | None,
    tags: Sequence[str] | None,
    allow_archived: bool,
    task_filter: Mapping[str, Any] | None,
    *,
    exact: bool,
    limit: int | None = None,
) -> list[TaskRecord]:
    """Task records by project and name (exact, or a regular expression), tags and filter."""
    optional_str("project_name", project_name)
    optional_str("task_name", task_name)
    wanted = TaskQuery(tags=str_list("tags", tags) or None, archived=None if allow_archived else False)
    if project_name is not None:
        if backend.find_project(project_name) is None:
            return []
        wanted.project_name = project_name
    if task_name is not None:
        if exact:
            wanted.name = task_name
        else:
            wanted.name_pattern = task_name
    _apply_filter(wanted, task_filter or {})
    if limit is not None:
        wanted.limit = limit
    return backend.query_tasks(wanted)


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


def _container(image: str | None, arguments: str | None, setup: str | None) -> dict[str, Any]:
    container: dict[str, Any] = {}
    for key, value in (("image", image), ("arguments", arguments), ("setup_shell_script", setup)):
        if value:
            require_str(key if key != "setup_shell_script" else "docker_bash_setup_script", value)
            container[key] = value
    return container


def _arguments(pairs: Sequence[tuple[str, Any]] | None) -> dict[str, Any]:
    if not pairs:
        return {}
    arguments = {}
    for pair in pairs:
        if not isinstance(pair, (tuple, list)) or len(pair) != 2 or not isinstance(pair[0], str):
            raise ValidationError(f"argparse_args must be (name, value) pairs, got {pair!r}")
        arguments[f"Args/{pair[0]}"] = pair[1]
    return arguments


def _apply_filter(query: TaskQuery, task_filter: Mapping[str, Any]) -> None:
    if not isinstance(task_filter, Mapping):
        raise ValidationError(f"task_filter must be a dict, got {type(task_filter).__name__}")
    for key, value in task_filter.items():
        if key == "order_by":
            query.order_by = value[0] if isinstance(value, (list, tuple)) else value
        elif key in ("status", "type", "system_tags", "tags", "ids"):
            values = [value] if isinstance(value, str) else list(value)
            setattr(query, key, [str(v) for v in values])
        elif key in ("parent", "name", "project", "limit", "offset", "archived", "runtime"):
            setattr(query, key, value)
        elif key == "page_size":
            query.limit = int(value)
        else:
            raise ValidationError(
                f"task_filter: unknown key {key!r} (known: status, type, tags, system_tags, ids, parent, "
                "name, project, order_by, limit, offset, page_size, archived, runtime)"
            )


def _projects(project_name: str | Sequence[str] | None) -> list[str | None]:
    if project_name is None or isinstance(project_name, str):
        return [project_name]
    return list(str_list("project_name", project_name))


def user_name() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return ""


def _name_of(script: str | None, module: str | None) -> str:
    if script:
        return Path(script).stem
    return module or "task"
