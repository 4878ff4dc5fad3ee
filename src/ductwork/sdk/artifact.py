"""Artifacts of a task: the read-only `Artifact` view, and storing an object as one.

`upload` checks what `Task.upload_artifact` is given, copies what the caller may change, and
hands the write to the task's background uploads (`uploads`), which say every failure.
"""

from __future__ import annotations

import copy
import errno
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ductwork.core import settings
from ductwork.core.errors import DuctworkError, NotFound, StorageError, ValidationError
from ductwork.core.records import ArtifactRecord
from ductwork.sdk import transfer, urls
from ductwork.sdk.capture.console import original_stderr
from ductwork.sdk.checks import require_str
from ductwork.sdk.taskcore import TaskCore

if TYPE_CHECKING:
    from ductwork.client.contract import Backend

# Types whose deepcopy is cheap and exact: copied before a background upload, so the caller may
# keep mutating the object right after `upload_artifact` returns.
R = TypeVar("R")
T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")

_SNAPSHOT_TYPES = (dict, list, set, tuple, bytearray)
_NATIVE_MODULES = ("numpy", "pandas", "PIL", "pyarrow")


class Artifact:
    """One stored artifact of a task, as ClearML shows it (`task.artifacts[name]`)."""

    def __init__(
        self, record: ArtifactRecord, output_uri: str | None = None, backend: Backend | None = None
    ) -> None:
        self._record = record
        self._output_uri = output_uri
        self._backend = backend
        self._cache: object = _MISSING

    @property
    def name(self) -> str:
        return self._record.name

    @property
    def type(self) -> str:
        return self._record.type

    @property
    def mode(self) -> str:
        return self._record.mode

    @property
    def url(self) -> str | None:
        """Where the bytes are fetched from: a server's download URL for its own storage (any
        machine with an API key), else the stored location (`urls.artifact_url`)."""
        return urls.artifact_url(self._backend, self._record)

    @property
    def hash(self) -> str:
        return self._record.hash

    @property
    def size(self) -> int:
        return self._record.size

    @property
    def preview(self) -> str:
        return self._record.preview

    @property
    def metadata(self) -> dict[str, Any]:
        return dict(self._record.metadata)

    @property
    def timestamp(self) -> float:
        return self._record.timestamp

    @property
    def content_type(self) -> str:
        return self._record.content_type

    @property
    def record(self) -> ArtifactRecord:
        return self._record

    def get(
        self,
        force_download: bool = False,
        deserialization_function: Callable[[bytes], Any] | None = None,
        block_unsafe_artifacts: bool = False,
    ) -> Any:
        """The stored object in its original type (ndarray, DataFrame, dict, str, PIL image...)."""
        if block_unsafe_artifacts and self.type == "pickle":
            raise ValidationError(
                f"artifact {self.name!r} of task {self._record.task_id} is a pickle; "
                "refusing to load it because block_unsafe_artifacts=True"
            )
        if self._cache is not _MISSING and not force_download and deserialization_function is None:
            return self._cache
        value = _guarded(
            lambda: transfer.load(
                self._backend, self._record, deserialization_function=deserialization_function
            ),
            f"cannot read artifact {self.name!r} of task {self._record.task_id}",
        )
        if deserialization_function is None:
            self._cache = value
        return value

    def get_local_copy(
        self, extract_archive: bool = True, raise_on_error: bool = False, force_download: bool = False
    ) -> str | None:
        """A local path of the stored file (a zipped folder is extracted unless told otherwise).

        On failure: raises StorageError with `raise_on_error=True`; otherwise prints the reason on
        stderr and returns None (ClearML's default, but never silently).
        """
        try:
            path: str = _guarded(
                lambda: transfer.local_copy(self._backend, self._record, extract_archive=extract_archive),
                f"cannot copy artifact {self.name!r} of task {self._record.task_id}",
            )
            return path
        except (StorageError, NotFound) as exc:
            if raise_on_error:
                raise
            print(f"ductwork: {exc}", file=original_stderr())
            return None

    def __repr__(self) -> str:
        return f"Artifact(name={self.name!r}, type={self.type!r}, size={self.size}, hash={self.hash[:12]!r})"


class _Missing:
    pass


_MISSING = _Missing()


def _guarded(action: Callable[[], R], what: str) -> R:
    """Run `action`; our errors pass through, any other failure becomes a StorageError saying `what`."""
    try:
        return action()
    except DuctworkError:
        raise
    except Exception as exc:
        raise StorageError(f"{what}: {type(exc).__name__}: {exc}") from exc


def is_native(obj: object) -> bool:
    """Objects the artifact store writes in a readable format (everything else is pickled)."""
    if isinstance(obj, (str, Path, bytes, bytearray, dict, list, tuple, int, float, bool)) or obj is None:
        return True
    return type(obj).__module__.split(".")[0] in _NATIVE_MODULES


# A mutable object bigger than this is written in the caller's thread instead of copied for a
# background upload: a copy would double the memory of a big array (see docs/durability.md).
SNAPSHOT_LIMIT = 64 << 20


def too_big_to_copy(obj: object) -> bool:
    if isinstance(obj, bytearray):
        return len(obj) > SNAPSHOT_LIMIT
    module = type(obj).__module__.split(".")[0]
    try:
        if module == "numpy":
            return int(getattr(obj, "nbytes", 0)) > SNAPSHOT_LIMIT
        if module == "pandas" and hasattr(obj, "memory_usage"):
            usage = obj.memory_usage(deep=False)
            return int(usage.sum() if hasattr(usage, "sum") else usage) > SNAPSHOT_LIMIT
    except Exception:
        return False
    return False


def snapshot(obj: T) -> T:
    """A copy of a small mutable container or array (so later mutation cannot change the upload)."""
    module = type(obj).__module__.split(".")[0]
    if isinstance(obj, _SNAPSHOT_TYPES) or module in ("numpy", "pandas"):
        try:
            return copy.deepcopy(obj)
        except Exception:
            return obj
    return obj


@dataclass(frozen=True)
class ArtifactOptions:
    """How `Task.upload_artifact` stores an object (its arguments of the same names)."""

    metadata: Mapping[str, Any] | None = None
    preview: Any = None  # user data: the store makes the preview text of it
    serialization_function: Callable[[Any], bytes] | None = None
    extension_name: str | None = None
    retries: int = 0
    delete_after_upload: bool = False


def save_artifact(
    backend: Backend, task_id: str, output_uri: str | None, name: str, obj: Any, options: ArtifactOptions
) -> ArtifactRecord:
    """Serialise and store `obj`, then record it on the task; retried `options.retries` times on
    I/O errors, and for the retry window (`DUCTWORK_RETRY_WINDOW`) while the storage is full."""
    attempts = max(0, options.retries) + 1
    attempt, full_since = 0, None
    while True:
        try:
            record = transfer.save(
                backend,
                task_id,
                output_uri,
                name,
                obj,
                metadata=dict(options.metadata) if options.metadata else None,
                preview=options.preview,
                serialization_function=options.serialization_function,
                extension_name=options.extension_name,
            )
            break
        except (StorageError, OSError) as exc:
            attempt += 1
            if _storage_full(exc):
                full_since = full_since or time.monotonic()
                if time.monotonic() - full_since < settings.retry_window():
                    time.sleep(min(0.1 * 2 ** min(attempt, 5), 2.0))  # space may come back
                    continue
            if attempt >= attempts:
                raise _as_storage_error(exc, name, task_id) from exc
        except DuctworkError:
            raise
        except Exception as exc:
            raise ValidationError(
                f"artifact {name!r} of task {task_id}: cannot serialise {type(obj).__name__}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    backend.put_artifact(record)
    if options.delete_after_upload and isinstance(obj, (str, Path)) and os.path.exists(obj):
        if os.path.isdir(obj):
            import shutil

            shutil.rmtree(obj, ignore_errors=True)
        else:
            os.unlink(obj)
    return record


def _storage_full(exc: BaseException | None) -> bool:
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        exc = exc.__cause__
    return False


def _as_storage_error(exc: BaseException, name: str, task_id: str) -> StorageError:
    where = f"artifact {name!r} of task {task_id}"
    if isinstance(exc, StorageError):
        return exc if where in str(exc) else StorageError(f"{where}: {exc}")
    return StorageError(f"{where}: cannot write: {exc}")


def save_artifact_bytes(
    backend: Backend, task_id: str, output_uri: str | None, name: str, obj: Any, **options: Any
) -> ArtifactRecord:
    """Store `obj` without recording it as an artifact of the task (model weights, images)."""
    try:
        record = transfer.save(backend, task_id, output_uri, name, obj, **options)
    except DuctworkError:
        raise
    except OSError as exc:
        raise _as_storage_error(exc, name, task_id) from exc
    return record


def upload(
    task: TaskCore,
    name: str,
    obj: Any,
    options: ArtifactOptions,
    *,
    auto_pickle: bool | None,
    wait_on_upload: bool,
    sort_keys: bool,
) -> None:
    """Store `obj` as artifact `name` of `task` (in the background unless `wait_on_upload`).

    The object is copied first when it is a container or an array, so changing it right
    after this call does not change what is stored."""
    _check_upload(task.id, name, obj, options, auto_pickle)
    if sort_keys and isinstance(obj, dict):
        obj = _sorted_dict(obj)
    store = partial(save_artifact, task._backend, task.id, task.output_uri, name, options=options)
    if wait_on_upload or too_big_to_copy(obj):
        # A big array is written now rather than copied, so memory stays one object's worth.
        task._uploads.wait_for(name)
        store(obj)
    else:
        copied = snapshot(obj)
        task._uploads.submit(f"artifact:{name}", lambda: store(copied), f"artifact {name!r}")


def _check_upload(
    task_id: str, name: str, obj: object, options: ArtifactOptions, auto_pickle: bool | None
) -> None:
    metadata, serialization_function, retries = (
        options.metadata,
        options.serialization_function,
        options.retries,
    )
    require_str("name", name)
    if not name.strip():
        raise ValidationError(f"upload_artifact: artifact name must not be empty (task {task_id})")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise ValidationError(
            f"upload_artifact({name!r}): metadata must be a dict, got {type(metadata).__name__}"
        )
    if serialization_function is not None and not callable(serialization_function):
        raise ValidationError(f"upload_artifact({name!r}): serialization_function must be callable")
    if not isinstance(retries, int) or retries < 0:
        raise ValidationError(f"upload_artifact({name!r}): retries must be an int >= 0, got {retries!r}")
    if auto_pickle is False and serialization_function is None and not is_native(obj):
        raise ValidationError(
            f"upload_artifact({name!r}): {type(obj).__name__} needs pickling, but auto_pickle=False"
        )


def _sorted_dict(values: dict[K, V]) -> dict[K, V]:
    try:
        return dict(sorted(values.items()))
    except TypeError:  # keys of mixed types: keep the given order
        return values


def of_task(task: TaskCore) -> dict[str, Artifact]:
    """Name -> Artifact of `task`, after its pending uploads finished."""
    task._uploads.wait()
    return {
        record.name: Artifact(record, task.output_uri, task._backend)
        for record in task._backend.get_artifacts(task.id)
    }
