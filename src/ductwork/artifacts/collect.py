"""Garbage collection of blobs no artifact or model record points at any more.

Blobs are shared by content, so deleting a task's artifact record cannot delete its blob; this
sweep does, given every hash still referenced. Blobs younger than the grace period are spared:
a record is written to the database just after its blob, and saving content that already
exists refreshes the blob's time, so a sweep never races a save that is still in flight.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ductwork.artifacts import locations

DEFAULT_GRACE_SECONDS = 3600.0


@dataclass(frozen=True)
class Collected:
    removed: int  # blobs deleted (or, in a dry run, that would be)
    freed: int  # their bytes
    kept: int  # blobs still referenced or too young


@dataclass(frozen=True)
class _Stored:
    path: str
    digest: str
    size: int
    modified: float | None
    delete: Callable[[str], Any]


def collect_garbage(
    root_uri: str,
    referenced: Iterable[str],
    *,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
    dry_run: bool = False,
    storage_options: dict[str, Any] | None = None,
) -> Collected:
    """Delete the blobs under `root_uri` whose sha256 is not in `referenced`."""
    keep = set(referenced)
    cutoff = time.time() - grace_seconds
    removed = freed = kept = 0
    for blob in _stored_blobs(root_uri, storage_options):
        if blob.digest in keep or blob.modified is None or blob.modified > cutoff:
            kept += 1
            continue
        if not dry_run:
            blob.delete(blob.path)
        removed += 1
        freed += blob.size
    return Collected(removed, freed, kept)


def _stored_blobs(root_uri: str, storage_options: dict[str, Any] | None) -> Iterator[_Stored]:
    if not locations.is_remote(root_uri):
        yield from _local_blobs(os.path.join(locations.local_path(root_uri), "blobs"))
        return
    fs, path = locations.filesystem(root_uri, storage_options)
    base = path.rstrip("/") + "/blobs"
    fs.invalidate_cache(base)
    try:
        found = fs.find(base, detail=True)
    except FileNotFoundError:
        return
    from ductwork.artifacts.transfer import modified_time

    for full, info in sorted(found.items()):
        name = full.rsplit("/", 1)[-1]
        yield _Stored(full, _digest(name), int(info.get("size") or 0), modified_time(info), fs.rm_file)


def _local_blobs(folder: str) -> Iterator[_Stored]:
    if not os.path.isdir(folder):
        return
    for prefix in sorted(os.listdir(folder)):
        sub = os.path.join(folder, prefix)
        if len(prefix) != 2 or not os.path.isdir(sub):
            continue  # `.incoming-*` temporary files are not blobs
        for name in sorted(os.listdir(sub)):
            path = os.path.join(sub, name)
            stat = os.stat(path)
            yield _Stored(path, _digest(name), stat.st_size, stat.st_mtime, os.unlink)


def _digest(name: str) -> str:
    return name.split(".", 1)[0]
