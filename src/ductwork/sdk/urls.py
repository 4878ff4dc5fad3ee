"""The URLs a user is given for stored bytes (`Artifact.url`, `Model.url`, `${step.artifacts.x.url}`),
and reading them back (`StorageManager.get_local_copy(url)`).

ClearML gives its files server's URL, which any machine can fetch. Against a ductwork server,
bytes in the server's own storage (a path on the server's machine, or inline in the record) get
the server's download URL, which needs an API key; any machine whose backend is that server
reads it back through `local_copy_of`, in place when it reaches the storage, else downloaded
into the hash-checked cache. Object storage (s3://...) keeps its own URI, and the embedded
store (no server) its local path, as both are readable where they are.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ductwork.core import settings
from ductwork.core.errors import NotFound
from ductwork.core.records import ArtifactRecord, ModelRecord

if TYPE_CHECKING:
    from ductwork.client.contract import Backend


def artifact_url(backend: Backend | None, record: ArtifactRecord) -> str | None:
    """Where a user fetches the artifact `record` (None: no stored bytes)."""
    served = _server_url(backend, "artifact_url", record.uri, record.inline is not None)
    if served is not None:
        return str(served(record.task_id, record.name))
    return record.uri or None


def model_url(backend: Backend | None, model: ModelRecord) -> str:
    """Where a user fetches the weights of `model` ("" before it has any)."""
    served = _server_url(backend, "model_url", model.uri, False)
    return str(served(model.id)) if served is not None else model.uri


def _server_url(backend: Backend | None, method: str, uri: str, inline: bool) -> Callable[..., object] | None:
    """The backend's URL maker when the bytes are in its server's own storage (a server's
    backend alone has one; a local-mode step's pipe forwards its controller's)."""
    if not (uri or inline) or backend is None:
        return None
    from ductwork.artifacts.locations import is_remote  # deferred: the artifact package is heavy

    if uri and is_remote(uri):
        return None  # object storage: its URI is readable wherever its credentials are
    found: Callable[..., object] | None = getattr(backend, method, None)
    return found


def local_copy_of(url: str, *, extract_archive: bool, force_download: bool) -> str | None:
    """A local path of what `url` names when it is an artifact or model URL of this process's
    server (`artifact_url`, `model_url`); None for any other URL."""
    has_server = bool(settings.api_url() or settings.pipe_address())
    if not has_server or not url.lower().startswith(("http://", "https://")):
        return None  # no server to ask: opening a backend here would create a local store
    from ductwork import client
    from ductwork.sdk import transfer

    backend = client.backend()
    content_of = getattr(backend, "content_of", None)
    named: dict[str, str] | None = content_of(url) if content_of is not None else None
    if named is None:
        return None
    if "model_id" in named:
        model = backend.get_model(named["model_id"])
        if not model.uri:
            raise NotFound(f"model {model.id} ({model.name!r}) has no weights yet ({url})")
        return transfer.local_copy(
            backend,
            weights_record(model),
            download=lambda server: server.download_model_content(model.id),
            extract_archive=extract_archive,
            force_download=force_download,
        )
    task_id, name = named["task_id"], named["name"]
    record = next((a for a in backend.get_artifacts(task_id) if a.name == name), None)
    if record is None:
        raise NotFound(f"task {task_id} has no artifact {name!r} ({url})")
    copied: str = transfer.local_copy(
        backend, record, extract_archive=extract_archive, force_download=force_download
    )
    return copied


def weights_record(record: ModelRecord) -> ArtifactRecord:
    """The artifact-store view of a model's weights (a `.zip` is a zipped folder)."""
    kind = "folder" if record.uri.lower().endswith(".zip") else "file"
    return ArtifactRecord(
        task_id=record.task_id or "",
        name=f"model {record.id}",
        type=kind,
        uri=record.uri,
        hash=record.hash,
        size=record.size,
    )
