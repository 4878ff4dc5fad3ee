"""Local copies of remote bytes under `$DUCTWORK_HOME/cache`, downloaded once, hash-checked.

Downloads stream into a temporary file in the cache folder and are renamed into place only when
complete (and, for artifacts, only when their sha256 matches the record), so several processes
can share the cache and none ever reads a partial download. The copies take at most
`DUCTWORK_CACHE_LIMIT` bytes: after each download the least recently used ones go.
"""

from __future__ import annotations

import os
from typing import Any

from ductwork.artifacts import locations
from ductwork.artifacts.blobs import CHUNK, HashingSink, place, write_temp
from ductwork.artifacts.cachefolder import cache_folder, prune, touch
from ductwork.core import settings
from ductwork.core.errors import NotFound, StorageError
from ductwork.core.records import ArtifactRecord


def fetch(record: ArtifactRecord, storage_options: dict[str, Any] | None, *, force: bool = False) -> str:
    """The cached local copy of a remote artifact blob, downloaded if missing or damaged."""
    where = f"artifact {record.name!r} of task {record.task_id}"
    name = record.uri.rsplit("/", 1)[-1]
    target = os.path.join(cache_folder(), record.hash[:2], name)
    if not force and _size(target) == record.size:
        touch(target)
        return target
    temp, digest, size = download(record.uri, os.path.dirname(target), storage_options, what=where)
    if digest != record.hash or size != record.size:
        os.unlink(temp)
        raise StorageError(
            f"{where}: {record.uri} holds {size} bytes with sha256 {digest}, "
            f"expected {record.size} bytes with sha256 {record.hash} (damaged)"
        )
    place(temp, target, size, replace=True)  # checked bytes beat whatever sits there
    prune(cache_folder(), settings.cache_limit(), keep=target)
    return target


def download(
    url: str, folder: str, storage_options: dict[str, Any] | None, *, what: str = ""
) -> tuple[str, str, int]:
    """Stream `url` into a new temporary file in `folder`; returns (path, sha256, size)."""
    what = what or url
    fs, path = locations.filesystem(url, storage_options)

    def fill(sink: HashingSink) -> None:
        with fs.open(path, "rb") as source:
            while chunk := source.read(CHUNK):
                sink.write(chunk)

    try:
        return write_temp(folder, "", fill)
    except FileNotFoundError as exc:
        raise NotFound(f"{what}: {url} does not exist") from exc
    except StorageError:
        raise
    except Exception as exc:  # each driver fails its own way (botocore's NoCredentialsError is no OSError)
        raise StorageError(f"{what}: cannot download {url}: {type(exc).__name__}: {exc}") from exc


def _size(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None
