"""Models: stored weights files of tasks (`OutputModel`, `InputModel`, `Model`).

Weights go through the artifact store (content-addressed, atomic; a folder is zipped) on the one
route of stored objects (`transfer`): the `upload_uri`, else the task's `output_uri`, else the
server's storage, else the embedded home; read back directly, or through the server from a
machine that cannot reach its storage. A model record outlives its task and is linked to
tasks as an `input` or `output` model; `task.models` lists the links in attach order.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ductwork import client
from ductwork.core.errors import NotFound, StorageError, ValidationError
from ductwork.core.records import ModelRecord, TaskModel
from ductwork.sdk import current, transfer
from ductwork.sdk.artifact import save_artifact_bytes
from ductwork.sdk.capture.console import original_stderr
from ductwork.sdk.taskcore import TaskCore
from ductwork.sdk.urls import model_url, weights_record

if TYPE_CHECKING:
    from ductwork.client.contract import Backend


class Model:
    """A stored model, by id: `Model(model_id).get_local_copy()`."""

    def __init__(self, model_id: str) -> None:
        if not isinstance(model_id, str) or not model_id:
            raise ValidationError(f"model_id must be a non-empty str, got {model_id!r}")
        self._backend = client.backend()
        self._record = self._backend.get_model(model_id)

    @classmethod
    def _from_record(cls, record: ModelRecord) -> Model:
        model = cls.__new__(cls)
        model._backend = client.backend()
        model._record = record
        return model

    # ---- fields

    @property
    def id(self) -> str:
        return self._record.id

    @property
    def name(self) -> str:
        return self._record.name

    @property
    def url(self) -> str:
        """Where the weights are fetched from: a server's download URL for its own storage (any
        machine with an API key), else the stored location (`urls.model_url`)."""
        return model_url(self._backend, self._record)

    @property
    def framework(self) -> str:
        return self._record.framework

    @property
    def tags(self) -> list[str]:
        return list(self._record.tags)

    @property
    def comment(self) -> str:
        return self._record.comment

    @property
    def config_text(self) -> str:
        return self._record.config_text

    @property
    def config_dict(self) -> dict[str, Any]:
        try:
            value = json.loads(self._record.config_text) if self._record.config_text else {}
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    @property
    def labels(self) -> dict[str, int]:
        return dict(self._record.labels)

    @property
    def published(self) -> bool:
        return self._record.published

    @property
    def task(self) -> str | None:
        """Id of the task that created the model."""
        return self._record.task_id

    @property
    def project(self) -> str | None:
        return self._record.project

    @property
    def hash(self) -> str:
        return self._record.hash

    @property
    def size(self) -> int:
        return self._record.size

    @property
    def data(self) -> ModelRecord:
        return self._record

    def __repr__(self) -> str:
        return f"<Model {self.id} {self.name!r} {self.framework or '-'}>"

    # ---- weights

    def get_local_copy(
        self, extract_archive: bool = True, raise_on_error: bool = False, force_download: bool = False
    ) -> str | None:
        """A local path of the weights (a zipped folder is extracted unless told otherwise).

        With `raise_on_error=False` a failure prints its reason on stderr and returns None."""
        if not self._record.uri:
            _fail(f"model {self.id} ({self.name!r}) has no weights yet", raise_on_error)
            return None
        try:
            return transfer.local_copy(
                self._backend,
                weights_record(self._record),
                download=self._weights,
                extract_archive=extract_archive,
                force_download=force_download,
            )
        except (StorageError, NotFound, OSError) as exc:
            _fail(f"model {self.id} ({self.name!r}): {exc}", raise_on_error)
            return None

    get_weights = get_local_copy

    def _weights(self, server: transfer.ServerStreams) -> Iterator[bytes]:
        """The weights streamed from `server` (when its storage is out of this machine's reach)."""
        return server.download_model_content(self.id)

    def get_weights_package(self, return_path: bool = False, raise_on_error: bool = False) -> str | None:
        return self.get_local_copy(extract_archive=True, raise_on_error=raise_on_error)

    def publish(self) -> None:
        self._record.published = True
        self._record = self._backend.put_model(self._record)

    # ---- queries

    @classmethod
    def query_models(
        cls,
        project_name: str | None = None,
        model_name: str | None = None,
        tags: Sequence[str] | None = None,
        only_published: bool = False,
        include_archived: bool = False,
        max_results: int | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> list[Model]:
        """Models matching all given filters, newest first."""
        backend = client.backend()
        records = _query(backend, project_name, model_name, tags)
        if only_published:
            records = [record for record in records if record.published]
        if max_results is not None:
            records = records[: max(0, int(max_results))]
        return [cls._from_record(record) for record in records]


class InputModel(Model):
    """A model a task uses: by id, or the newest matching name / project / tags."""

    def __init__(
        self,
        model_id: str | None = None,
        name: str | None = None,
        project: str | None = None,
        tags: Sequence[str] | None = None,
        only_published: bool = False,
    ) -> None:
        if model_id is not None:
            super().__init__(model_id)
            return
        if name is None and project is None and not tags:
            raise ValidationError("InputModel: give model_id, or name / project / tags to find one")
        self._backend = client.backend()
        found = [r for r in _query(self._backend, project, name, tags) if r.published or not only_published]
        if not found:
            raise NotFound(
                f"no {'published ' if only_published else ''}model matching name={name!r}, "
                f"project={project!r}, tags={list(tags or [])}"
            )
        self._record = found[0]

    def connect(self, task: TaskCore, name: str | None = None, ignore_remote_overrides: bool = False) -> None:
        """Record this model as an input of `task`. Run remotely, an input model already set on
        the task under that name (by a clone's edit, say) replaces this one."""
        link_name = name or self.name
        if task._remote and not ignore_remote_overrides:
            for link in self._backend.get_task_models(task.id):
                if link.role == "input" and link.name == link_name:
                    self._record = self._backend.get_model(link.model_id)
                    return
        self._backend.attach_model(TaskModel(task.id, self.id, "input", link_name))


class OutputModel(Model):
    """A model a task produces; `update_weights(path)` stores the weights and registers them."""

    def __init__(
        self,
        task: TaskCore | None = None,
        config_text: str | None = None,
        config_dict: Mapping[str, object] | None = None,
        label_enumeration: Mapping[str, int] | None = None,
        name: str | None = None,
        tags: Sequence[str] | None = None,
        comment: str | None = None,
        framework: str | None = None,
        base_model_id: str | None = None,
    ) -> None:
        owner = task if task is not None else current.get()
        if owner is None:
            raise ValidationError("OutputModel: no task given and no current task; call Task.init() first")
        if not isinstance(owner, TaskCore):
            raise ValidationError(f"OutputModel: task must be a Task, got {type(owner).__name__}")
        if config_text is not None and config_dict is not None:
            raise ValidationError("OutputModel: give config_text or config_dict, not both")
        _check_labels(label_enumeration)
        self._backend = owner._backend
        self._task = owner
        base = self._backend.get_model(base_model_id) if base_model_id else None
        record = ModelRecord(
            name=name or (base.name if base else owner.name),
            project=owner.project,
            task_id=owner.id,
            framework=framework or (base.framework if base else ""),
            tags=_tags(tags),
            comment=comment or "",
            config_text=_config_text(config_text, config_dict) or (base.config_text if base else ""),
            labels=dict(label_enumeration or (base.labels if base else {})),
        )
        if base is not None:
            record.uri, record.hash, record.size = base.uri, base.hash, base.size
        self._record = self._backend.put_model(record)
        # The constructor connects the model to its task: the link it made, for a later rename.
        self._link = TaskModel(owner.id, self.id, "output", name or self.name or self.id)
        self._backend.attach_model(self._link)

    def connect(self, task: TaskCore, name: str | None = None, **_: object) -> None:
        """Register as an output model of `task` under `name` (default: the model's name).

        The constructor connects it to its own task; connecting it there again under another
        `name` renames that link (ClearML: the name the task has the model under, which
        `monitor_models` and `task.models` go by), so the task lists it once."""
        if task.id != self._link.task_id:
            self._backend.attach_model(TaskModel(task.id, self.id, "output", name or self.name))
            return
        if name and name != self._link.name:
            self._backend.rename_model_link(self._link, name)
            self._link = TaskModel(task.id, self.id, "output", name)

    def update_weights(
        self,
        weights_filename: str | Path | None = None,
        upload_uri: str | None = None,
        target_filename: str | None = None,
        auto_delete_file: bool = True,
        register_uri: str | None = None,
        iteration: int | None = None,
        update_comment: bool = True,
        is_package: bool = False,
        async_enable: bool = True,
    ) -> str:
        """Store the weights file (or folder, zipped) and return its URL.

        `register_uri` records an existing URL without copying. The caller's file is never
        deleted (ClearML deletes it when `auto_delete_file`; losing the user's file is worse
        than keeping a copy). The upload finishes before this returns."""
        if (weights_filename is None) == (register_uri is None):
            raise ValidationError("update_weights: give weights_filename or register_uri")
        if register_uri is not None:
            if not isinstance(register_uri, str) or not register_uri:
                raise ValidationError(f"update_weights: register_uri must be a URL, got {register_uri!r}")
            self._record.uri, self._record.hash, self._record.size = register_uri, "", 0
        else:
            self._store(Path(weights_filename or ""), upload_uri, target_filename)
        if update_comment and weights_filename is not None and not self._record.comment:
            self._record.comment = f"weights from {os.path.basename(str(weights_filename))}"
        self._record = self._backend.put_model(self._record)
        return self.url

    def update_weights_package(
        self,
        weights_filenames: Sequence[str] | None = None,
        weights_path: str | None = None,
        upload_uri: str | None = None,
        target_filename: str | None = None,
        auto_delete_file: bool = True,
        iteration: int | None = None,
    ) -> str:
        """Store a folder (`weights_path`) as one zipped model package."""
        if weights_path is None:
            raise ValidationError("update_weights_package: give weights_path (a folder)")
        return self.update_weights(weights_path, upload_uri=upload_uri, target_filename=target_filename)

    def update_design(
        self, config_text: str | None = None, config_dict: Mapping[str, object] | None = None
    ) -> bool:
        self._record.config_text = _config_text(config_text, config_dict) or ""
        self._record = self._backend.put_model(self._record)
        return True

    def update_labels(self, labels: Mapping[str, int]) -> None:
        _check_labels(labels)
        self._record.labels = dict(labels)
        self._record = self._backend.put_model(self._record)

    def _store(self, path: Path, upload_uri: str | None, target_filename: str | None) -> None:
        if not path.exists():
            raise ValidationError(f"update_weights: weights file {str(path)!r} does not exist")
        name = f"model {self.id}: {target_filename or path.name}"
        record = save_artifact_bytes(
            self._backend, self._task.id, upload_uri or self._task.output_uri, name, str(path)
        )
        self._record.uri, self._record.hash, self._record.size = record.uri, record.hash, record.size


def _query(
    backend: Backend, project_name: str | None, name: str | None, tags: Sequence[str] | None
) -> list[ModelRecord]:
    project_id = None
    if project_name is not None:
        if not isinstance(project_name, str):
            raise ValidationError(f"project must be a str, got {type(project_name).__name__}")
        project = backend.find_project(project_name)
        if project is None:
            return []
        project_id = project.id
    if name is not None and not isinstance(name, str):
        raise ValidationError(f"model name must be a str, got {type(name).__name__}")
    return backend.query_models(project=project_id, name=name, tags=_tags(tags) or None)


def _fail(message: str, raise_on_error: bool) -> None:
    if raise_on_error:
        raise StorageError(message)
    print(f"ductwork: {message}", file=original_stderr())


def _tags(tags: Sequence[str] | None) -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, str) or not all(isinstance(tag, str) for tag in tags):
        raise ValidationError(f"tags must be a list of str, got {tags!r}")
    return list(tags)


def _config_text(config_text: str | None, config_dict: Mapping[str, object] | None) -> str | None:
    if config_dict is not None:
        if not isinstance(config_dict, Mapping):
            raise ValidationError(f"config_dict must be a dict, got {type(config_dict).__name__}")
        try:
            return json.dumps(dict(config_dict), indent=2)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"config_dict cannot be stored as JSON: {exc}") from exc
    if config_text is not None and not isinstance(config_text, str):
        raise ValidationError(f"config_text must be a str, got {type(config_text).__name__}")
    return config_text


def _check_labels(labels: Mapping[str, int] | None) -> None:
    if labels is None:
        return
    if not isinstance(labels, Mapping) or not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) for k, v in labels.items()
    ):
        raise ValidationError(f"label_enumeration must be a dict of str -> int, got {labels!r}")
