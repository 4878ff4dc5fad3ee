"""Where local copies of remote blobs live, and how much room they may take.

`$DUCTWORK_HOME/cache` holds copies laid out like a store; blobs written to object storage leave
their local file here and downloads land here. Both sides prune it to `DUCTWORK_CACHE_LIMIT`.
"""

from __future__ import annotations

import os
import tempfile

from ductwork.core import settings


def cache_folder() -> str:
    """Local copies of remote blobs: `$DUCTWORK_HOME/cache/blobs`, laid out like a store."""
    return os.path.join(cache_root(), "blobs")


def cache_root() -> str:
    """`$DUCTWORK_HOME/cache`, or, when the home cannot be written (a read-only mount), a
    private folder under the system's temporary folder, so reading never needs to write home."""
    folder = os.path.join(settings.home(), "cache")
    if _writable(folder):
        return folder
    user = os.getuid() if hasattr(os, "getuid") else 0
    return os.path.join(tempfile.gettempdir(), f"ductwork-cache-{user}")


def _writable(folder: str) -> bool:
    """`folder` is writable, or does not exist yet and could be made in its nearest parent."""
    path = os.path.abspath(folder)
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            return False
        path = parent
    return os.access(path, os.W_OK | os.X_OK)


def prune(folder: str, limit: int, *, keep: str = "") -> int:
    """Remove the least recently used files under `folder` until they take at most `limit`
    bytes (never `keep`, the copy just asked for). Returns the bytes freed.

    Another process may be reading a copy that goes: on POSIX an open file (or a memory map)
    stays readable after its name is removed, and a later read downloads it again."""
    entries: list[tuple[float, int, str]] = []
    total = 0
    for parent, _, names in os.walk(folder):
        for name in names:
            if name.startswith(".incoming-"):
                continue  # a download in progress (swept separately when stale)
            path = os.path.join(parent, name)
            try:
                info = os.stat(path)
            except OSError:
                continue
            total += info.st_size
            entries.append((info.st_mtime, info.st_size, path))
    freed = 0
    if total <= limit:
        return freed
    for _, size, path in sorted(entries):
        if total - freed <= limit:
            break
        if path == keep:
            continue
        try:
            os.unlink(path)
        except OSError:
            continue
        freed += size
    return freed


def touch(path: str) -> None:
    """Mark `path` as just used: the last copy to go when the cache is over its limit."""
    try:
        os.utime(path)
    except OSError:
        pass  # a read-only cache still serves its copies; it just cannot rank them
