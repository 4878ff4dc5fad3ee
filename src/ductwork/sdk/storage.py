"""`StorageManager`: ClearML's static file helpers over local paths and fsspec URLs.

Where ClearML logs a failure and returns None, these raise a clear error (NotFound for a
missing file, StorageError when storage refuses, ValidationError for bad arguments) unless
the call asks for `silence_errors=True`. Uploads that do not wait run on a small background
pool; `StorageManager.wait_for_uploads()` (also run at interpreter exit) waits for them and
raises the first failure.
"""

from __future__ import annotations

import builtins
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from ductwork.artifacts import locations, transfer
from ductwork.core import settings
from ductwork.core.errors import DuctworkError, ValidationError
from ductwork.sdk import shutdown, urls

T = TypeVar("T")
log = logging.getLogger("ductwork.storage")

DEFAULT_REMOTE_RETRIES = 2


def _retries(retries: int | None, url: str) -> int:
    if retries is None:
        return DEFAULT_REMOTE_RETRIES if locations.is_remote(url) else 0
    if not isinstance(retries, int) or retries < 0:
        raise ValidationError(f"retries must be a non-negative int, got {retries!r}")
    return retries


def _check_url(url: object, argument: str) -> str:
    text = os.fspath(url) if isinstance(url, str | os.PathLike) else ""
    if not isinstance(text, str) or not text:
        raise ValidationError(f"{argument} must be a non-empty path or URL, got {url!r}")
    return text


def _quietly(silence_errors: bool, action: Callable[[], T]) -> T | None:
    if not silence_errors:
        return action()
    try:
        return action()
    except DuctworkError as exc:
        log.warning("%s", exc)
        return None


class _Uploads:
    """Background uploads of `upload_file(wait_for_upload=False)`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[Future[str]] = []

    def submit(self, action: Callable[[], str]) -> Future[str]:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ductwork-upload")
                shutdown.before_thread_pools_close(self._drain_at_exit)
            future = self._pool.submit(action)
            self._pending.append(future)
            return future

    def wait(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        errors = [future.exception() for future in pending]
        first = next((error for error in errors if error is not None), None)
        if first is not None:
            raise first

    def _drain_at_exit(self) -> None:
        try:
            self.wait()
        except Exception as exc:  # at exit, nobody is left to catch it: say it
            log.error("a background upload failed: %s", exc)


_uploads = _Uploads()


class StorageManager:
    """Upload, download, list and cache files at local paths or fsspec URLs (s3://, gs://, ...)."""

    @staticmethod
    def get_local_copy(
        remote_url: str,
        cache_context: str | None = None,
        extract_archive: bool = True,
        name: str | None = None,
        force_download: bool = False,
    ) -> str:
        """A local path with the content of `remote_url` (cached; local paths are returned
        as they are). Archives (.zip, .tar.gz, ...) are extracted to a folder when
        `extract_archive`, and the folder is returned."""
        url = _check_url(remote_url, "remote_url")
        # An artifact's or model's URL on this process's server: read by its record, with the key.
        served = urls.local_copy_of(url, extract_archive=extract_archive, force_download=force_download)
        if served is not None:
            return served
        return transfer.cached_copy(
            url,
            context=cache_context,
            name=name,
            force=force_download,
            extract_archive=extract_archive,
            retries=_retries(None, url),
        )

    @staticmethod
    def upload_file(
        local_file: str, remote_url: str, wait_for_upload: bool = True, retries: int | None = None
    ) -> str:
        """Copy `local_file` to `remote_url` (a full destination; ending in `/` means "into this
        folder"). Returns the destination URL, at once when `wait_for_upload=False`."""
        source = _check_url(local_file, "local_file")
        url = _check_url(remote_url, "remote_url")
        attempts = _retries(retries, url)
        if not os.path.isfile(os.path.expanduser(source)):
            raise ValidationError(f"cannot upload {source}: no such file")
        if wait_for_upload:
            return transfer.upload(source, url, retries=attempts)
        destination = url + os.path.basename(source) if url.endswith("/") else url
        _uploads.submit(lambda: transfer.upload(source, url, retries=attempts))
        return destination if locations.is_remote(destination) else locations.local_path(destination)

    @staticmethod
    def wait_for_uploads() -> None:
        """Wait for uploads started with `wait_for_upload=False`; raises the first failure."""
        _uploads.wait()

    @staticmethod
    def download_file(
        remote_url: str,
        local_folder: str | None = None,
        overwrite: bool = False,
        skip_zero_size_check: bool = False,
        silence_errors: bool = False,
    ) -> str | None:
        """Download `remote_url` into `local_folder` (default: the cache) under its own name;
        an existing file is kept unless `overwrite`. Returns the local path."""
        url = _check_url(remote_url, "remote_url")

        def run() -> str:
            folder = local_folder or os.path.join(settings.home(), "cache", "storage", "downloads")
            target = os.path.join(os.path.expanduser(folder), url.rstrip("/").rsplit("/", 1)[-1])
            if os.path.exists(target) and not overwrite:
                return target
            transfer.download(url, target, retries=_retries(None, url))
            if not skip_zero_size_check and os.path.getsize(target) == 0:
                os.unlink(target)
                raise ValidationError(f"{url} is empty (pass skip_zero_size_check=True to accept it)")
            return target

        return _quietly(silence_errors, run)

    @staticmethod
    def upload_folder(
        local_folder: str, remote_url: str, match_wildcard: str | None = None, retries: int | None = None
    ) -> builtins.list[str]:
        """Upload every file below `local_folder` (those matching `match_wildcard`, e.g. `*.csv`,
        when given) to the same relative path below `remote_url`. Returns their URLs."""
        folder = _check_url(local_folder, "local_folder")
        url = _check_url(remote_url, "remote_url")
        return transfer.upload_folder(
            folder, url, match_wildcard=match_wildcard, retries=_retries(retries, url)
        )

    @staticmethod
    def download_folder(
        remote_url: str,
        local_folder: str | None = None,
        match_wildcard: str | None = None,
        overwrite: bool = False,
        silence_errors: bool = False,
    ) -> str | None:
        """Download every file below `remote_url` to the same relative path below
        `local_folder` (default: a cache folder for this URL). Returns the local folder."""
        url = _check_url(remote_url, "remote_url")

        def run() -> str:
            folder = local_folder or transfer.cached_folder_for(url)
            return transfer.download_folder(
                url, folder, match_wildcard=match_wildcard, overwrite=overwrite, retries=_retries(None, url)
            )

        return _quietly(silence_errors, run)

    @staticmethod
    def list(
        remote_url: str, return_full_path: bool = False, with_metadata: bool = False
    ) -> builtins.list[str] | builtins.list[dict[str, Any]]:
        """The files below `remote_url`, recursively: paths relative to it (or full URLs with
        `return_full_path`), or dicts with `name`, `size` and `last_modified` (`with_metadata`)."""
        url = _check_url(remote_url, "remote_url")
        entries = transfer.list_files(url)
        if with_metadata:
            return [
                {
                    "name": entry.url if return_full_path else entry.name,
                    "size": entry.size,
                    "last_modified": entry.modified,
                }
                for entry in entries
            ]
        return [entry.url if return_full_path else entry.name for entry in entries]

    @staticmethod
    def exists_file(remote_url: str) -> bool:
        """True when `remote_url` names an existing file (not a folder)."""
        return transfer.exists_file(_check_url(remote_url, "remote_url"))

    @staticmethod
    def set_cache_file_limit(cache_file_limit: int, cache_context: str | None = None) -> int:
        """Keep at most `cache_file_limit` downloaded files (default 100) in a cache context,
        dropping the least recently used. Returns the new limit."""
        return transfer.set_cache_file_limit(cache_file_limit, cache_context)

    @staticmethod
    def get_file_size_bytes(remote_url: str, silence_errors: bool = False) -> int | None:
        url = _check_url(remote_url, "remote_url")
        return _quietly(silence_errors, lambda: transfer.file_size(url))
