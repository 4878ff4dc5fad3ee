"""`TaskCatalog`: finding tasks (`get_task`, `get_tasks`, `query_tasks`) and making drafts (`create`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ductwork import client
from ductwork.client.contract import Backend
from ductwork.core.errors import NotFound, ValidationError
from ductwork.core.queries import TaskQuery
from ductwork.core.records import TaskRecord
from ductwork.sdk import offline
from ductwork.sdk.checks import optional_str, require_str, str_list
from ductwork.sdk.drafts import ArgumentPairs, Code, Draft
from ductwork.sdk.hyperparams import Hyperparameters

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
    ) -> list[str] | list[dict[str, object]]:
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
        argparse_args: ArgumentPairs | None = None,
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
        if offline.is_offline():
            # As in ClearML: an offline session holds the one task of Task.init; a draft made
            # now would reach no backend, or vanish with the session's scratch store.
            raise ValidationError("Task.create is not available in offline mode (only Task.init is)")
        draft = Draft.checked(
            project_name,
            task_name,
            task_type,
            Code(script, module, repo, branch, commit, working_directory, binary, add_task_init_call),
            packages,
            requirements_file,
            (docker, docker_args, docker_bash_setup_script),
            argparse_args,
        )
        backend = client.backend()
        task = cls._wrap(draft.create(backend, base_task_id), backend)
        if draft.arguments:
            task.update_parameters(draft.arguments)
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
