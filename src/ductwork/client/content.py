"""Artifact and model bytes through the server, for a machine that cannot reach the storage.

Whether bytes go through the server at all is `sends_artifacts_through_server`: no when this
machine reaches the storage itself (probed once per root), yes otherwise.
"""

from __future__ import annotations

import os
import threading
import urllib.parse
from collections.abc import Generator, Iterator
from typing import Any

from ductwork.client.calls import Caller, Retry, bounced, error_from, quote, say
from ductwork.client.wire import NotSent, Reply, WireError
from ductwork.core import errors
from ductwork.core.patterns import Pattern

# The download routes, which are also the URLs a user is given for stored bytes (ClearML's
# files-server URLs): `{server}/api/tasks/<task id>/artifacts/<quoted name>/content` and
# `{server}/api/models/<model id>/content`.
_ARTIFACT_PATH = Pattern(r"/api/tasks/([^/]*)/artifacts/(.*)/content")
_MODEL_PATH = Pattern(r"/api/models/([^/]*)/content")
_ID = Pattern(r"[0-9A-Za-z_-]{1,32}")
_NAME_LIMIT = 255  # as `artifacts.names`

_Parts = Generator[Reply | bytes, None, None]  # a streamed answer: its head, then its body

# Storage roots this process was told it cannot reach (said once each).
_told: set[str] = set()
_told_lock = threading.Lock()


class ContentTransfer(Caller):
    """Uploads, downloads, and where the server keeps artifacts."""

    def upload_artifact_content(
        self,
        task_id: str,
        name: str,
        data: bytes | Iterator[bytes],
        *,
        extension: str = "",
        root: str | None = None,
    ) -> dict[str, Any]:
        """Send an artifact's stored bytes to the server, which stores them under `root` (the
        task's `output_uri`; the server must allow it) or, by default, its own storage.

        For clients that cannot reach that storage themselves. Answers `{"uri", "hash",
        "size"}`; record the artifact with that `uri` afterwards."""
        path = f"/api/tasks/{task_id}/artifacts/{quote(name)}/content"
        params = {"ext": extension, "root": root or None}
        retry = Retry(self.url)
        while True:
            # Bytes can be sent again (a PUT of the same content); a stream only when none of
            # it left (no connection).
            try:
                reply = self._wire.request(
                    "PUT",
                    path,
                    params=params,
                    content=data,
                    headers={"Content-Type": "application/octet-stream"},
                )
            except WireError as exc:
                if not isinstance(exc, NotSent) and not isinstance(data, bytes):
                    raise errors.StorageError(f"cannot reach ductwork server at {self.url}: {exc}") from exc
                retry.wait(exc)
                continue
            if bounced(reply) and isinstance(data, bytes):
                retry.wait(f"HTTP {reply.status}")
                continue
            retry.done()
            break
        if reply.status >= 400:
            error = error_from(reply, f"PUT {path}")
            if root and isinstance(error, errors.StorageError):
                raise errors.StorageError(
                    f"artifact {name!r} of task {task_id}: this machine cannot reach output_uri {root!r}"
                    f" and the ductwork server at {self.url} cannot store it there either: {error}"
                ) from None
            raise error
        result: dict[str, Any] = reply.json()
        return result

    def download_artifact_content(self, task_id: str, name: str) -> Iterator[bytes]:
        """Stream an artifact's stored bytes from the server."""
        return self._download(_artifact_path(task_id, name))

    def download_model_content(self, model_id: str) -> Iterator[bytes]:
        """Stream a model's stored weights from the server."""
        return self._download(_model_path(model_id))

    def artifact_url(self, task_id: str, name: str) -> str:
        """The URL of an artifact's bytes on this server, for any machine with an API key."""
        return self.url + _artifact_path(task_id, name)

    def model_url(self, model_id: str) -> str:
        """The URL of a model's weights on this server, for any machine with an API key."""
        return self.url + _model_path(model_id)

    def content_of(self, url: str) -> dict[str, str] | None:
        """What `url` names when it is an `artifact_url` (`{"task_id", "name"}`) or a
        `model_url` (`{"model_id"}`) of this server; None for any other place. A URL of this
        server's API that names neither, or names them with ids or a name no record can have
        (`..`, NUL, over-long), is a ValidationError, never a request."""
        if not url.startswith(self.url + "/api/"):
            return None
        path = url[len(self.url) :]
        artifact, model = _ARTIFACT_PATH.fullmatch(path), _MODEL_PATH.fullmatch(path)
        if artifact is not None:
            task_id, name = _unquoted(url, artifact.group(1)), _unquoted(url, artifact.group(2))
            if _ID.fullmatch(task_id) and name.strip() and "\x00" not in name and len(name) <= _NAME_LIMIT:
                return {"task_id": task_id, "name": name}
        elif model is not None and _ID.fullmatch(_unquoted(url, model.group(1))):
            return {"model_id": _unquoted(url, model.group(1))}
        raise errors.ValidationError(
            f"{url[:200]!r} is not the URL of an artifact or a model on the ductwork server at {self.url}"
        )

    def _download(self, path: str) -> Iterator[bytes]:
        """The bytes at `path`, streamed. A body that breaks off is asked again from where it
        broke (`Range`, with `If-Range` naming the first answer's ETag: the same file's bytes or
        none), for as long as each try brings bytes or the retry window lasts; bytes without an
        ETag, or that changed meanwhile, cannot be resumed: a StorageError says so."""
        head, parts = self._answer(path, {})
        got, retry, stuck_at = 0, Retry(self.url), 0  # `retry` waits out the outage at `stuck_at`
        try:
            if head.status >= 400:
                raise error_from(head, f"GET {path}")
            etag, size = head.headers.get("etag"), _int(head.headers.get("content-length"))
            while True:
                try:
                    for chunk in parts:
                        assert isinstance(chunk, bytes)
                        got += len(chunk)
                        yield chunk
                    return
                except WireError as exc:
                    parts.close()
                    if got == size:  # every byte came; only the end of the answer broke
                        return
                    if not etag:
                        lost = f"cannot reach ductwork server at {self.url}: {exc}"
                        raise errors.StorageError(lost) from exc
                    if got != stuck_at:  # bytes came since the last break: a new outage
                        retry, stuck_at = Retry(self.url), got
                    retry.wait(exc)
                head, parts = self._answer(path, {"Range": f"bytes={got}-", "If-Range": etag})
                if head.status != 206 or _range_start(head.headers.get("content-range")) != got:
                    why = "it changed meanwhile" if head.status == 200 else f"HTTP {head.status}"
                    raise errors.StorageError(
                        f"GET {path}: the download broke off after {got} bytes and cannot go on: {why}"
                    )
        finally:
            parts.close()

    def _answer(self, path: str, headers: dict[str, str]) -> tuple[Reply, _Parts]:
        """The head of a GET of `path` and the rest of its stream; the request is repeated
        (within the retry window) until an answer starts."""
        retry = Retry(self.url)
        while True:
            parts = self._wire.stream("GET", path, headers=headers)
            try:
                head = next(parts)
            except WireError as exc:
                parts.close()
                retry.wait(exc)
                continue
            assert isinstance(head, Reply)
            if bounced(head):
                parts.close()
                retry.wait(f"HTTP {head.status}")
                continue
            retry.done()
            return head, parts

    def storage(self) -> dict[str, Any]:
        """Where the server keeps artifacts: `{"artifacts_root", "remote", "token", "allowed"}`."""
        result: dict[str, Any] = self._call("GET", "/api/storage")
        return result

    def sends_artifacts_through_server(self, output_uri: str | None = None) -> bool:
        """Whether artifact bytes stored at `output_uri` (None: the server's own storage) go
        through the server (`upload_artifact_content`, `download_artifact_content`).

        No when this machine reaches that storage itself: remote storage its own standard
        credentials open (probed once per root, `artifacts.reach`), or the server's local root
        when this machine sees the same folder (it reads the server's token there: same host or
        a shared mount, not merely a folder of the same name). Yes otherwise: the server then
        writes the bytes where the task says (its `output_uri`, which the server must allow, or
        its own storage) and streams them back."""
        from ductwork.artifacts.locations import is_remote  # deferred: the artifact package is heavy

        if output_uri and is_remote(output_uri):
            return self._unreachable(self._storage_root_of(output_uri)) is not None
        where = self.storage()
        root = str(where["artifacts_root"])
        if is_remote(root):
            return self._unreachable(root) is not None
        marker = os.path.join(root, ".ductwork-server")
        try:
            with open(marker, encoding="utf-8") as handle:
                return handle.read().strip() != str(where["token"])
        except OSError:
            return True

    def _storage_root_of(self, uri: str) -> str:
        """The storage root `uri` lies under (the server's root or an allowed prefix), so one
        probe covers every task writing there; `uri` itself when the server names none."""
        from ductwork.artifacts.locations import is_remote

        where = self.storage()
        roots = [str(where["artifacts_root"]), *(str(p) for p in where.get("allowed", ()))]
        covering = [r for r in roots if is_remote(r) and _covers(r, uri)]
        return max(covering, key=len) if covering else uri

    def _unreachable(self, root: str) -> str | None:
        """Why this machine cannot reach `root` (said once on stderr), or None."""
        from ductwork.artifacts import reach

        reason = reach.unreachable(root)
        if reason is not None:
            with _told_lock:
                first = root not in _told
                _told.add(root)
            if first:
                say(
                    f"ductwork: this machine cannot reach {root} ({reason}); "
                    f"its artifacts go through the server at {self.url}"
                )
        return reason


def _artifact_path(task_id: str, name: str) -> str:
    return f"/api/tasks/{quote(task_id)}/artifacts/{quote(name)}/content"


def _model_path(model_id: str) -> str:
    return f"/api/models/{quote(model_id)}/content"


def _unquoted(url: str, part: str) -> str:
    try:
        return urllib.parse.unquote(part, errors="strict")
    except UnicodeDecodeError:
        raise errors.ValidationError(f"{url[:200]!r}: not UTF-8 once unquoted") from None


def _int(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None


def _range_start(content_range: str | None) -> int | None:
    """The first byte a 206 answer's `Content-Range: bytes first-last/size` holds."""
    unit, _, spec = (content_range or "").partition(" ")
    first = spec.partition("-")[0]
    return _int(first) if unit == "bytes" else None


def _covers(prefix: str, uri: str) -> bool:
    """Whether `uri` lies under `prefix`, by whole path segments."""
    base = prefix.rstrip("/")
    return uri == base or uri.startswith(base + "/")
