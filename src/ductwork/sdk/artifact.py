"""Artifacts of a task: the read-only `Artifact` view and the background uploader.

Uploads run on a few process-wide threads that the interpreter waits for at exit. Each task
keeps the futures of its own uploads: `Task.flush(wait_for_uploads=True)` and `Task.close()`
wait for them and raise a StorageError naming every artifact that failed, so a background
failure is never silently lost.
"""

from __future__ import annotations

import copy
import errno
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ductwork.core import settings
from ductwork.core.errors import DuctworkError, NotFound, StorageError, ValidationError
from ductwork.core.records import ArtifactRecord
from ductwork.sdk import shutdown, transfer

if TYPE_CHECKING:
    from concurrent.futures import Future

    from ductwork.client.contract import Backend

_WORKERS = 4

# Types whose deepcopy is cheap and exact: copied before a background upload, so the caller may
# keep mutating the object right after `upload_artifact` returns.
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
        self._cache: Any = _MISSING

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
        return self._record.uri or None

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
            from ductwork.sdk.capture.console import original_stderr

            print(f"ductwork: {exc}", file=original_stderr())
            return None

    def __repr__(self) -> str:
        return f"Artifact(name={self.name!r}, type={self.type!r}, size={self.size}, hash={self.hash[:12]!r})"


class _Missing:
    pass


_MISSING = _Missing()


def _guarded(action: Callable[[], Any], what: str) -> Any:
    """Run `action`; our errors pass through, any other failure becomes a StorageError saying `what`."""
    try:
        return action()
    except DuctworkError:
        raise
    except Exception as exc:
        raise StorageError(f"{what}: {type(exc).__name__}: {exc}") from exc


def is_native(obj: Any) -> bool:
    """Objects the artifact store writes in a readable format (everything else is pickled)."""
    if isinstance(obj, (str, Path, bytes, bytearray, dict, list, tuple, int, float, bool)) or obj is None:
        return True
    return type(obj).__module__.split(".")[0] in _NATIVE_MODULES


# A mutable object bigger than this is written in the caller's thread instead of copied for a
# background upload: a copy would double the memory of a big array (see docs/durability.md).
SNAPSHOT_LIMIT = 64 << 20


def too_big_to_copy(obj: Any) -> bool:
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


def snapshot(obj: Any) -> Any:
    """A copy of a small mutable container or array (so later mutation cannot change the upload)."""
    module = type(obj).__module__.split(".")[0]
    if isinstance(obj, _SNAPSHOT_TYPES) or module in ("numpy", "pandas"):
        try:
            return copy.deepcopy(obj)
        except Exception:
            return obj
    return obj


class _Workers:
    """Up to `size` background threads that run queued jobs and end as soon as none is left.

    Not a ThreadPoolExecutor: its exit hook refuses new work before `atexit` handlers run,
    so an upload queued as a script's last line used to fail. These threads are not daemons,
    so the interpreter waits for them (and everything they queue) before it exits; as they
    end when idle, an idle process exits at once. They are drained at exit before the thread
    pools close (`shutdown`), since a storage client may need one (object storage does).
    """

    def __init__(self, size: int, name: str) -> None:
        self._size = size
        self._name = name
        self._lock = threading.Lock()
        self._jobs: deque[Callable[[], None]] = deque()
        self._running = 0
        self._threads: set[threading.Thread] = set()
        self._exit_hook_set = False

    def submit(self, action: Callable[[], None]) -> Future[None]:
        from concurrent.futures import Future  # the plain future: no executor, no exit hook

        future: Future[None] = Future()

        def job() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                action()
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(None)

        with self._lock:
            self._jobs.append(job)
            if not self._exit_hook_set:
                self._exit_hook_set = True
                shutdown.before_thread_pools_close(self.drain)
            if self._running < self._size:
                self._running += 1
                worker = threading.Thread(target=self._work, name=self._name, daemon=False)
                self._threads.add(worker)
                worker.start()
        return future

    def _work(self) -> None:
        while True:
            with self._lock:
                if not self._jobs:
                    self._running -= 1
                    self._threads.discard(threading.current_thread())
                    return
                job = self._jobs.popleft()
            job()

    def drain(self) -> None:
        """Wait until every queued job has run (and every job those queued)."""
        while True:
            with self._lock:
                workers = list(self._threads)
            if not workers:
                return
            for worker in workers:
                worker.join()

    def after_fork(self) -> None:
        # The parent's threads do not exist in a forked child; its jobs belong to the parent.
        self._lock = threading.Lock()
        self._jobs.clear()
        self._running = 0
        self._threads = set()


_workers = _Workers(_WORKERS, "ductwork-upload")


def _reset_after_fork() -> None:
    _workers.after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


class Uploads:
    """The background uploads of one task (artifacts, debug images, model files)."""

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        self._lock = threading.Lock()
        self._pending: dict[str, Future[None]] = {}  # by artifact name: a newer upload waits for older
        self._failed: list[str] = []

    def submit(self, key: str, job: Callable[[], None], what: str) -> None:
        with self._lock:
            before = self._pending.get(key)
            future = _workers.submit(partial(self._run, before, job, what))
            self._pending[key] = future
        future.add_done_callback(lambda done: self._forget(key, done))

    def _run(self, before: Future[None] | None, job: Callable[[], None], what: str) -> None:
        if before is not None:
            try:
                before.result()
            except Exception:
                pass  # the older upload's failure is reported on its own
        try:
            job()
        except Exception as exc:
            message = f"{what}: {exc}"
            with self._lock:
                self._failed.append(message)
            from ductwork.sdk import losses

            kind = what.split(" ", 1)[0] if what.startswith(("artifact ", "image ")) else "upload"
            losses.record(self.task_id, kind, 1, message)  # said on stderr, carried by the task

    def _forget(self, key: str, done: Future[None]) -> None:
        with self._lock:
            if self._pending.get(key) is done:
                del self._pending[key]

    def wait(self, timeout: float | None = None) -> None:
        """Wait for every upload so far; raise StorageError listing those that failed."""
        from concurrent.futures import TimeoutError as FuturesTimeout

        with self._lock:
            futures = list(self._pending.values())
        for future in futures:
            try:
                future.result(timeout=timeout)
            except FuturesTimeout as exc:
                raise StorageError(f"task {self.task_id}: uploads still running after {timeout} s") from exc
        with self._lock:
            failed, self._failed = self._failed, []
        if failed:
            from ductwork.sdk import losses

            losses.raised(self.task_id)  # the caller is told
            raise StorageError(f"task {self.task_id}: {len(failed)} upload(s) failed: " + "; ".join(failed))

    def wait_for(self, name: str) -> None:
        """Wait for a background upload of artifact `name`, so a newer synchronous one wins."""
        with self._lock:
            future = self._pending.get(f"artifact:{name}")
        if future is not None:
            future.result()

    def busy(self) -> bool:
        with self._lock:
            return bool(self._pending)


def save_artifact(
    backend: Backend,
    task_id: str,
    output_uri: str | None,
    name: str,
    obj: Any,
    *,
    metadata: Mapping[str, Any] | None,
    preview: Any,
    serialization_function: Callable[[Any], bytes] | None,
    extension_name: str | None,
    retries: int,
    delete_after_upload: bool,
) -> ArtifactRecord:
    """Serialise and store `obj`, then record it on the task; retried `retries` times on I/O
    errors, and for the retry window (`DUCTWORK_RETRY_WINDOW`) while the storage is full."""
    attempts = max(0, retries) + 1
    attempt, full_since = 0, None
    while True:
        try:
            record = transfer.save(
                backend,
                task_id,
                output_uri,
                name,
                obj,
                metadata=dict(metadata) if metadata else None,
                preview=preview,
                serialization_function=serialization_function,
                extension_name=extension_name,
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
    if delete_after_upload and isinstance(obj, (str, Path)) and os.path.exists(obj):
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
