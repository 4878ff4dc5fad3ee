"""Files in and out of storage by URL: local paths (plain os calls) or fsspec URLs.

The engine behind `StorageManager`. Every write is atomic: a local destination is written
beside itself under a hidden temporary name and renamed; a remote one is uploaded in a single
put, which object stores publish only when complete. Downloads land in a temporary file first.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from ductwork.artifacts import archives, locations
from ductwork.artifacts.blobs import CHUNK, HashingSink, storage_error, write_temp
from ductwork.artifacts.cachefolder import touch
from ductwork.core import settings
from ductwork.core.errors import DuctworkError, NotFound, StorageError, ValidationError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry:
    """One stored file: its path relative to the listed URL, full URL, size, modification time."""

    name: str
    url: str
    size: int
    modified: float | None


def exists_file(url: str) -> bool:
    if not locations.is_remote(url):
        return os.path.isfile(locations.local_path(url))
    fs, path = locations.filesystem(url)
    fs.invalidate_cache(path)
    try:
        return bool(fs.isfile(path))
    except OSError:
        return False


def file_size(url: str) -> int:
    if not locations.is_remote(url):
        try:
            return os.stat(locations.local_path(url)).st_size
        except FileNotFoundError as exc:
            raise NotFound(f"{url} does not exist") from exc
    fs, path = locations.filesystem(url)
    try:
        return int(fs.info(path)["size"])
    except FileNotFoundError as exc:
        raise NotFound(f"{url} does not exist") from exc


def list_files(url: str) -> list[Entry]:
    """Every file below `url` (recursively), sorted by name; a file URL lists itself."""
    if not locations.is_remote(url):
        return _list_local(locations.local_path(url))
    fs, path = locations.filesystem(url)
    fs.invalidate_cache(path)
    base = path.rstrip("/")
    entries = []
    try:
        found = fs.find(base, detail=True)
    except FileNotFoundError:
        return []
    for full, info in sorted(found.items()):
        relative = full[len(base) :].lstrip("/") or full.rsplit("/", 1)[-1]
        entries.append(
            Entry(relative, _url_for(url, base, full), int(info.get("size") or 0), modified_time(info))
        )
    return entries


def _list_local(root: str) -> list[Entry]:
    if os.path.isfile(root):
        stat = os.stat(root)
        return [Entry(os.path.basename(root), root, stat.st_size, stat.st_mtime)]
    entries = []
    for current, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".incoming-"))
        for name in files:
            if name.startswith(".incoming-"):
                continue  # someone's upload in progress: not a file yet
            full = os.path.join(current, name)
            stat = os.stat(full)
            relative = os.path.relpath(full, root).replace(os.sep, "/")
            entries.append(Entry(relative, full, stat.st_size, stat.st_mtime))
    return sorted(entries, key=lambda entry: entry.name)


def _url_for(url: str, base: str, full: str) -> str:
    return url.rstrip("/") + full[len(base) :] if full.startswith(base) else full


def modified_time(info: dict[str, Any]) -> float | None:
    """The modification time in an fsspec `info` dict, whichever key the filesystem uses."""
    for key in ("LastModified", "mtime", "updated", "created"):
        value = info.get(key)
        if value is None:
            continue
        if hasattr(value, "timestamp"):
            return float(value.timestamp())
        try:
            return float(value)
        except (TypeError, ValueError):
            continue
    return None


def upload(local_file: str, url: str, *, retries: int = 0) -> str:
    """Copy a local file to `url` (a trailing `/` means "into this folder"); returns the URL."""
    source = os.path.abspath(os.path.expanduser(local_file))
    if not os.path.isfile(source):
        raise ValidationError(f"cannot upload {local_file}: no such file")
    if url.endswith("/"):
        url += os.path.basename(source)
    if not locations.is_remote(url):
        _copy_local(source, locations.local_path(url))
        return locations.local_path(url)
    fs, path = locations.filesystem(url)
    _with_retries(retries, url, lambda: fs.put_file(source, path))
    fs.invalidate_cache(path)
    return url


def _copy_local(source: str, destination: str) -> None:
    folder = os.path.dirname(destination) or "."

    def fill(sink: HashingSink) -> None:
        with open(source, "rb") as handle:
            while chunk := handle.read(CHUNK):
                sink.write(chunk)

    temp, _, _ = write_temp(folder, "", fill)
    try:
        shutil.copymode(source, temp)
        os.replace(temp, destination)
    except OSError as exc:
        _discard(temp)
        raise storage_error(destination, exc) from exc


def _discard(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def download(url: str, destination: str, *, retries: int = 0) -> str:
    """Copy `url` to the local path `destination` (atomically); returns `destination`."""
    folder = os.path.dirname(os.path.abspath(destination))
    if not locations.is_remote(url):
        source = locations.local_path(url)
        if not os.path.isfile(source):
            raise NotFound(f"{url} does not exist")
        _copy_local(source, destination)
        return destination
    fs, path = locations.filesystem(url)

    def fetch() -> str:
        def fill(sink: HashingSink) -> None:
            with fs.open(path, "rb") as handle:
                while chunk := handle.read(CHUNK):
                    sink.write(chunk)

        temp, _, _ = write_temp(folder, "", fill)
        try:
            os.replace(temp, destination)
        except OSError as exc:
            _discard(temp)
            raise storage_error(destination, exc) from exc
        return destination

    return _with_retries(retries, url, fetch)


def cached_copy(
    url: str,
    *,
    context: str | None = None,
    name: str | None = None,
    force: bool = False,
    extract_archive: bool = True,
    retries: int = 0,
) -> str:
    """A local path holding `url`: the path itself when local, else a download kept in
    `$DUCTWORK_HOME/cache/storage/<context>/`; archives extracted to a folder when asked."""
    if not locations.is_remote(url):
        path = locations.local_path(url)
        if not os.path.exists(path):
            raise NotFound(f"{url} does not exist")
    else:
        key = hashlib.sha256(url.encode("utf-8")).hexdigest()[:_KEY_LENGTH]
        file_name = name or url.rstrip("/").rsplit("/", 1)[-1] or "file"
        if file_name in (".", "..") or "/" in file_name or os.sep in file_name:
            raise ValidationError(f"name {name!r} must be a plain file name")
        root = _cache_root(context)
        path = os.path.join(root, key, file_name)
        if force or not os.path.isfile(path):
            try:
                download(url, path, retries=retries)
            except OSError as exc:
                if isinstance(exc, StorageError):
                    raise
                raise storage_error(path, exc) from exc
            _prune(root, cache_file_limit(context), keep=os.path.dirname(path))
        else:
            touch(os.path.dirname(path))
    if extract_archive and os.path.isfile(path) and archives.is_archive(path):
        return _extract_cached(path, context, force)
    return path


DEFAULT_CACHE_FILE_LIMIT = 100
_cache_file_limits: dict[str, int] = {}


def set_cache_file_limit(limit: int, context: str | None = None) -> int:
    """Keep at most `limit` downloads (and as many extracted archives) in a cache context;
    the least recently used go first. Returns the limit."""
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ValidationError(f"cache_file_limit must be a positive int, got {limit!r}")
    _cache_root(context)  # validates the name
    _cache_file_limits[context or "global"] = limit
    return limit


def cache_file_limit(context: str | None) -> int:
    return _cache_file_limits.get(context or "global", DEFAULT_CACHE_FILE_LIMIT)


def _prune(folder: str, limit: int, keep: str) -> None:
    """Remove the least recently used cache entries of `folder` beyond `limit` (never `keep`)."""
    try:
        with os.scandir(folder) as found:
            entries = [e for e in found if len(e.name) == _KEY_LENGTH and e.is_dir(follow_symlinks=False)]
        if len(entries) <= limit:
            return
        entries.sort(key=lambda entry: entry.stat(follow_symlinks=False).st_mtime)
    except OSError:
        return  # pruning is housekeeping: it never fails a download
    for entry in entries[: len(entries) - limit]:
        if entry.path != keep:
            shutil.rmtree(entry.path, ignore_errors=True)


_KEY_LENGTH = 24


def _cache_root(context: str | None) -> str:
    context = context or "global"
    if not context.replace("-", "").replace("_", "").replace(".", "").isalnum() or context.startswith("."):
        raise ValidationError(f"cache_context {context!r} must be a simple name (letters, digits, - _ .)")
    return os.path.join(settings.home(), "cache", "storage", context)


def cached_folder_for(url: str) -> str:
    """The default local folder `download_folder` fills for `url`."""
    key = hashlib.sha256(url.encode("utf-8")).hexdigest()[:24]
    return os.path.join(settings.home(), "cache", "storage", "folders", key)


def _extract_cached(archive: str, context: str | None, force: bool) -> str:
    stat = os.stat(archive)
    # Keyed by path, size and time: a re-downloaded or edited archive is extracted afresh.
    key = hashlib.sha256(f"{archive}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()).hexdigest()[:_KEY_LENGTH]
    extracted = os.path.join(_cache_root(context), "extracted")
    destination = os.path.join(extracted, key)
    if force and os.path.isdir(destination):
        shutil.rmtree(destination, ignore_errors=True)
    if os.path.isdir(destination):
        touch(destination)
        return destination
    try:
        archives.extract(archive, destination)
    except OSError as exc:
        if isinstance(exc, StorageError):
            raise
        raise storage_error(destination, exc, "extract into") from exc
    _prune(extracted, cache_file_limit(context), keep=destination)
    return destination


def upload_folder(folder: str, url: str, *, match_wildcard: str | None = None, retries: int = 0) -> list[str]:
    """Upload every file below `folder` to the same relative path below `url`."""
    root = os.path.abspath(os.path.expanduser(folder))
    if not os.path.isdir(root):
        raise ValidationError(f"cannot upload folder {folder}: no such folder")
    uploaded = []
    for entry in _list_local(root):
        if match_wildcard and not fnmatch.fnmatch(entry.name, match_wildcard):
            continue
        uploaded.append(upload(entry.url, locations.join(url, entry.name), retries=retries))
    return uploaded


def download_folder(
    url: str,
    local_folder: str,
    *,
    match_wildcard: str | None = None,
    overwrite: bool = False,
    retries: int = 0,
) -> str:
    """Download every file below `url` to the same relative path below `local_folder`."""
    root = os.path.abspath(os.path.expanduser(local_folder))
    for entry in list_files(url):
        if match_wildcard and not fnmatch.fnmatch(entry.name, match_wildcard):
            continue
        target = os.path.realpath(os.path.join(root, entry.name))
        if os.path.commonpath([os.path.realpath(root), target]) != os.path.realpath(root):
            raise StorageError(f"{entry.url} would be written outside {root}: refused")
        if overwrite or not os.path.exists(target):
            download(entry.url, target, retries=retries)
    return root


def _with_retries(retries: int, url: str, action: Callable[[], T]) -> T:
    """Run `action`, retrying transient failures (network, throttling) with backoff."""
    attempt = 0
    while True:
        try:
            return action()
        except (FileNotFoundError, PermissionError) as exc:
            raise _as_storage_error(url, exc) from exc
        except (OSError, ConnectionError, TimeoutError) as exc:
            if attempt >= retries:
                raise _as_storage_error(url, exc) from exc
            time.sleep(min(0.5 * 2**attempt, 8.0))
            attempt += 1


def _as_storage_error(url: str, exc: OSError) -> DuctworkError:
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, FileNotFoundError):
        return NotFound(f"{url} does not exist")
    return StorageError(f"cannot transfer {url}: {exc}")
