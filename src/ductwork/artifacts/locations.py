"""Where bytes live: a local path (plain os calls) or an fsspec URL (imported only then).

`file://` URLs are local paths: they get the same atomic rename and skip fsspec's import.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import unquote, urlsplit


def is_remote(uri: str) -> bool:
    """True for URLs with a scheme other than `file` (a Windows drive letter is no scheme)."""
    scheme, sep, _ = uri.partition("://")
    return bool(sep) and scheme.lower() != "file" and len(scheme) > 1


def local_path(uri: str) -> str:
    """The absolute local path of a path or `file://` URL."""
    if uri.lower().startswith("file://"):
        uri = unquote(urlsplit(uri).path)
    return os.path.abspath(os.path.expanduser(uri))


def join(root: str, *parts: str) -> str:
    """Join URL or path parts with `/` (object stores use `/` on every platform)."""
    if not is_remote(root):
        return os.path.join(root, *parts)
    return "/".join([root.rstrip("/"), *(part.strip("/") for part in parts)])


def filesystem(uri: str, storage_options: dict[str, Any] | None = None) -> tuple[Any, str]:
    """The fsspec filesystem of a remote URL and the URL's path inside it."""
    import fsspec.core  # deferred: ~100 ms, paid only for remote storage

    fs, path = fsspec.core.url_to_fs(uri, **(storage_options or {}))
    return fs, path
