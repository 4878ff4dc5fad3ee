"""Every stored location the server records, reads or serves passes one rule (`StorageRule`).

Records carry locations a client wrote (`ArtifactRecord.uri`, `ModelRecord.uri`, the picture of
an image event); a record with a location outside the server's storage is refused with a 422
that names the field when it is recorded, and again when it is read (a record may predate this
rule or reach the store another way). Nothing is opened before the check: opening the live
SQLite database and closing it again would drop this process's locks on it (POSIX locks are
per process), and other processes could then delete its journal with acknowledged writes.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import stat
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ductwork.artifacts import cache
from ductwork.artifacts.allowed import Location, LocationRefused, StorageRule
from ductwork.artifacts.locations import filesystem, is_remote
from ductwork.core.display import mask_secrets
from ductwork.core.errors import NotFound, StorageError
from ductwork.core.records import ArtifactRecord, MetricEvent, ModelRecord

if TYPE_CHECKING:
    from ductwork.store.store import Store

log = logging.getLogger("ductwork.server")

CHUNK = 1 << 20
HEAD = 64  # bytes enough to recognise every type `served` knows


def build_rule(store: Store, artifacts_root: str, allowed: Iterable[str]) -> StorageRule:
    """The rule of a server over `store`: its artifact root, the admin's prefixes, and never
    its own database file."""
    return StorageRule.build(artifacts_root, allowed, private=_database_files(store))


def _database_files(store: Store) -> list[str]:
    database = getattr(store, "database", None)
    if database is None or getattr(database, "dialect", "") != "sqlite":
        return []
    from ductwork.store.engine import sqlite_path

    path = sqlite_path(database.url)
    return [str(path)] if path is not None else []


# -- at record time -------------------------------------------------------------------------


def check_artifact(rule: StorageRule, artifact: ArtifactRecord) -> None:
    if artifact.uri:
        rule.check(artifact.uri, f"artifact {artifact.name!r}: uri")


def check_model(rule: StorageRule, model: ModelRecord) -> None:
    if model.uri:
        rule.check(model.uri, f"model {model.name!r}: uri")


def check_events(rule: StorageRule, events: Sequence[MetricEvent]) -> None:
    for index, event in enumerate(events):
        if event.kind != "image":
            continue
        for field, uri in picture_locations(event.payload):
            rule.check(uri, f"events[{index}] (image {event.title!r}): payload.{field}")


def picture_locations(payload: Any) -> list[tuple[str, str]]:
    """The locations an image event's payload names that the server would read.

    A `url` of the web (http, https) or a `data:image/` URL is a link the browser loads; the
    server never fetches it, so it is not a stored location."""
    if isinstance(payload, str):
        return [] if is_link(payload) else [("", payload)]
    if not isinstance(payload, dict):
        return []
    found: list[tuple[str, str]] = []
    artifact = payload.get("artifact")
    if isinstance(artifact, dict) and artifact.get("uri"):
        found.append(("artifact.uri", _text(artifact["uri"])))
    for key in ("uri", "url"):
        value = payload.get(key)
        if value and not (key == "url" and isinstance(value, str) and is_link(value)):
            found.append((key, _text(value)))
    return found


def is_link(value: str) -> bool:
    lower = value.lower()
    return lower.startswith(("http://", "https://", "data:image/")) and not lower.startswith("data:image/svg")


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise LocationRefused(f"a stored location must be a string, got {type(value).__name__}")
    return value


# -- at read time ---------------------------------------------------------------------------


def readable(rule: StorageRule, uri: str, what: str) -> Location:
    """The checked location of a stored record, or NotFound (never opened when refused)."""
    try:
        return rule.check(uri, what)
    except LocationRefused as exc:
        # info, not warning: a client must not be able to flood the server's log on demand
        log.info("ductwork server: refused to read a stored location: %s", mask_secrets(exc))
        raise NotFound(f"{what} is not in this server's storage: {exc}") from None


def local_file(rule: StorageRule, uri: str) -> str | None:
    """The real path of a regular file in the server's local storage, else None."""
    try:
        location = rule.check(uri, "uri")
    except LocationRefused:
        return None
    if not location.path:
        return None
    try:
        return location.path if stat.S_ISREG(os.stat(location.path, follow_symlinks=False).st_mode) else None
    except OSError:
        return None


def readable_copy(rule: StorageRule, record: ArtifactRecord, *, max_bytes: int) -> str | None:
    """A local file holding the record's bytes: its own file in local storage, or a cached,
    hash-checked copy of remote storage the rule allows (up to `max_bytes`); else None."""
    if not record.uri:
        return None
    if not is_remote(record.uri):
        return local_file(rule, record.uri)
    if record.size > max_bytes:
        return None
    try:
        location = rule.check(record.uri, "uri")
        return cache.fetch(dataclasses.replace(record, uri=location.url), None)
    except Exception as exc:  # refused, missing, damaged or unreachable: a preview is a courtesy
        log.info("ductwork server: no copy of %s for a preview: %s", record.uri, exc)
        return None


@dataclasses.dataclass
class StoredFile:
    """The bytes of one stored file, opened: a binary file object (a local file, an object
    store's file, the bytes of a record) and their size when known (a local file's own, never a
    record's claim: a wrong Content-Length breaks the response). The handle is a file object,
    so one a response never reads is closed when it is collected."""

    handle: Any
    size: int | None

    def head(self) -> bytes:
        """The first bytes, what the server types the file by (`served.inert_type`)."""
        self.handle.seek(0)
        return bytes(self.handle.read(HEAD))

    def chunks(self, first: int = 0, length: int | None = None) -> Iterator[bytes]:
        """`length` bytes (all: None) from `first`, a chunk at a time, never the whole file in
        memory; closes the handle when done. An object store reads only the asked bytes."""
        with self.handle:
            self.handle.seek(first)  # after `head`, even a range from 0 must go back
            left = length
            while left is None or left > 0:
                chunk = self.handle.read(CHUNK if left is None else min(CHUNK, left))
                if not chunk:
                    return
                if left is not None:
                    left -= len(chunk)
                yield chunk

    def close(self) -> None:
        self.handle.close()


def inline_file(data: bytes) -> StoredFile:
    return StoredFile(io.BytesIO(data), len(data))


def open_file(rule: StorageRule, uri: str, what: str) -> StoredFile:
    """The file at `uri`, checked before anything is opened."""
    location = readable(rule, uri, what)
    if location.path:
        fd = _open_regular(location.path, what)
        handle = open(fd, "rb")  # noqa: SIM115 (closed by StoredFile.chunks, or when collected)
        return StoredFile(handle, os.fstat(fd).st_size)
    return _open_remote(location.url, what)


def _open_regular(path: str, what: str) -> int:
    """A read descriptor of the regular file at `path` (a real path: a symlink swapped in
    since the check is refused by O_NOFOLLOW; a FIFO or device by the type check)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise NotFound(f"the stored file of {what} is missing") from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise NotFound(f"the stored file of {what} is not a regular file")
    return fd


def _open_remote(url: str, what: str) -> StoredFile:
    """The object at `url`, opened now (read with the server's own credentials), so a missing
    object is a 404 and unreachable storage a 503 naming it, not a broken body. fsspec's files
    seek, and read a range of the object when asked for one."""
    try:
        fs, path = filesystem(url)
        # Blocks of two chunks, not the driver's default (s3fs: 50 MiB): a range, a `<video>`
        # seeking, costs the store a read of about its own size; a whole file streams a GET
        # every 2 MiB.
        handle = fs.open(path, "rb", block_size=2 * CHUNK)
    except FileNotFoundError:
        raise NotFound(f"the stored file of {what} is missing") from None
    except ImportError as exc:
        raise StorageError(f"the stored file of {what} is at {url}: {exc.name} is not installed") from exc
    except Exception as exc:  # no credentials, refused, unreachable: each driver says it its own way
        reason = f"{type(exc).__name__}: {exc}"
        raise StorageError(f"cannot read the stored file of {what} at {url}: {reason}") from exc
    size = getattr(handle, "size", None)
    return StoredFile(handle, size if isinstance(size, int) else None)
