"""`TaskFields`: the plain fields of a task that users read and edit.

Every edit goes to the backend and the answer replaces the cached `TaskRecord` of the core.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ductwork.core import settings
from ductwork.core.errors import ValidationError
from ductwork.core.records import TaskRecord
from ductwork.sdk.checks import (
    check_type,
    optional_str,
    output_uri_of,
    require_str,
    str_list,
    task_id_of,
)
from ductwork.sdk.taskcore import TaskCore


class TaskFields(TaskCore):
    # ------------------------------------------------------------------ properties

    @property
    def name(self) -> str:
        return self._record.name

    @name.setter
    def name(self, value: str) -> None:
        self.set_name(value)

    def set_name(self, name: str) -> None:
        require_str("name", name)
        self._edit({"name": name})

    @property
    def status(self) -> str:
        return self._record.status

    @property
    def task_type(self) -> str:
        return self._record.type

    @property
    def data(self) -> TaskRecord:
        return self._record

    @property
    def output_uri(self) -> str | None:
        return self._record.output_uri

    @output_uri.setter
    def output_uri(self, value: str | bool | None) -> None:
        self._edit({"output_uri": output_uri_of(value)})

    @property
    def comment(self) -> str:
        return self._record.comment

    @comment.setter
    def comment(self, value: str) -> None:
        self.set_comment(value)

    def set_comment(self, comment: str) -> None:
        require_str("comment", comment)
        self._edit({"comment": comment})

    def get_project_name(self) -> str | None:
        if self._record.project is None:
            return None
        return self._backend.get_project(self._record.project).name

    def get_project_id(self) -> str | None:
        return self._record.project

    def get_status(self) -> str:
        return self.reload().status

    def get_output_log_web_page(self) -> str:
        """The address of this task's page in the web UI.

        With a server (`DUCTWORK_API_URL`) it is that server's task page, at `DUCTWORK_WEB_URL`
        when browsers reach the server at another address. On the embedded store it is where
        `ductwork ui` serves by default (http://127.0.0.1:8080): start `ductwork ui` to open it."""
        return f"{_web_address()}/tasks/{quote(self.id, safe='')}"

    def __repr__(self) -> str:
        return f"<Task {self.id} {self.name!r} {self.status}>"

    # ------------------------------------------------------------------ tags, fields, properties

    def add_tags(self, tags: str | Sequence[str]) -> None:
        new = str_list("tags", [tags] if isinstance(tags, str) else tags)
        self._edit({"tags": _union(self.reload()._record.tags, new)})

    def get_tags(self) -> list[str]:
        return list(self.reload()._record.tags)

    def set_tags(self, tags: Sequence[str]) -> None:
        self._edit({"tags": str_list("tags", tags)})

    def get_system_tags(self) -> list[str]:
        return list(self.reload()._record.system_tags)

    def set_system_tags(self, tags: Sequence[str]) -> None:
        self._edit({"system_tags": str_list("tags", tags)})

    def set_archived(self, archive: bool) -> None:
        if not isinstance(archive, bool):
            raise ValidationError(f"set_archived: archive must be a bool, got {type(archive).__name__}")
        self._edit({"archived": archive})

    def get_archived(self) -> bool:
        return self.reload()._record.archived

    def set_parent(self, parent: TaskCore | str | None) -> None:
        parent_id = None if parent is None else task_id_of("parent", parent)
        if parent_id == self.id:
            raise ValidationError(f"task {self.id} cannot be its own parent")
        if parent_id is not None:
            self._backend.get_task(parent_id)  # NotFound names it
        self._edit({"parent": parent_id})

    def set_progress(self, progress: int) -> None:
        if isinstance(progress, bool) or not isinstance(progress, (int, float)) or not 0 <= progress <= 100:
            raise ValidationError(f"set_progress: progress must be a number 0..100, got {progress!r}")
        self._edit({"progress": int(progress)})

    def get_progress(self) -> int:
        return self.reload()._record.progress

    def set_task_type(self, task_type: str) -> None:
        check_type(task_type)
        self._edit({"type": task_type})

    def set_runtime_properties(self, runtime_properties: Mapping[str, object]) -> bool:
        if not isinstance(runtime_properties, Mapping):
            raise ValidationError("set_runtime_properties: runtime_properties must be a dict")
        merged = {**self.reload()._record.runtime, **runtime_properties}
        self._edit({"runtime": merged})
        return True

    def get_runtime_properties(self) -> dict[str, Any]:
        return dict(self.reload()._record.runtime)

    def set_base_docker(
        self,
        docker_cmd: str | None = None,
        docker_image: str | None = None,
        docker_arguments: str | Sequence[str] | None = None,
        docker_setup_bash_script: str | Sequence[str] | None = None,
    ) -> None:
        """The container the task runs in (`docker_cmd` may hold "image --args")."""
        container = dict(self._record.container)
        if docker_cmd:
            image, _, rest = docker_cmd.strip().partition(" ")
            container["image"] = image
            if rest.strip():
                container["arguments"] = rest.strip()
        if docker_image is not None:
            container["image"] = docker_image
        if docker_arguments is not None:
            args = docker_arguments
            container["arguments"] = args if isinstance(args, str) else " ".join(args)
        if docker_setup_bash_script is not None:
            script = docker_setup_bash_script
            container["setup_shell_script"] = script if isinstance(script, str) else "\n".join(script)
        self._edit({"container": container})

    def set_packages(self, packages: bool | str | Path | Sequence[str] | None) -> None:
        """pip requirements: a list of lines, or a path to a requirements file."""
        if packages is None or packages is False:
            return
        if packages is True:
            text = ""
        elif isinstance(packages, (str, Path)):
            path = Path(packages).expanduser()
            if not path.is_file():
                raise ValidationError(f"set_packages: requirements file {str(packages)!r} does not exist")
            text = path.read_text(encoding="utf-8")
        else:
            text = "\n".join(str_list("packages", packages))
        self._edit({"requirements": {**self._record.requirements, "pip": text}})

    def set_script(
        self,
        repository: str | None = None,
        branch: str | None = None,
        commit: str | None = None,
        diff: str | None = None,
        working_dir: str | None = None,
        entry_point: str | None = None,
        binary: str | None = None,
    ) -> None:
        given = {
            "repository": repository,
            "branch": branch,
            "commit": commit,
            "diff": diff,
            "working_dir": working_dir,
            "entry_point": entry_point,
            "binary": binary,
        }
        changes = {key: value for key, value in given.items() if value is not None}
        for key, value in changes.items():
            require_str(key, value)
        self._edit({"script": {**self.reload()._record.script, **changes}})

    def set_repo(self, repo: str | None = None, branch: str | None = None, commit: str | None = None) -> None:
        """The git repository an agent checks out to run this task: its URL, branch and commit
        (`script.repository`, `branch`, `commit`); what is None stays as it is."""
        for what, value in (("repo", repo), ("branch", branch), ("commit", commit)):
            optional_str(what, value)
        self.set_script(repository=repo, branch=branch, commit=commit)


def _web_address() -> str:
    """Where the web UI of this process's backend is, without a trailing slash."""
    server = settings.api_url()
    if server is None:
        return f"http://{settings.DEFAULT_UI_HOST}:{settings.DEFAULT_UI_PORT}"
    # The server's pages sit beside its API, under the same address (`/tasks/<id>`, `/api/...`).
    return (settings.web_url() or server).rstrip("/")


def _union(old: Sequence[str], new: Sequence[str]) -> list[str]:
    return list(dict.fromkeys([*old, *new]))
