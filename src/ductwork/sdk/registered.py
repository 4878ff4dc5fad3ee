"""Live-synced pandas DataFrames of a task (`Task.register_artifact`).

A registered frame is uploaded as an artifact when it is registered, and again whenever the
task is flushed, completed or closed if its content changed since its last upload. A change is
seen by a hash of the frame's rows, column names and types (`pandas.util.hash_pandas_object`:
one vectorised pass, no copy), so an unchanged frame costs no upload. Every upload goes through
`artifact.upload`, the route of `Task.upload_artifact`.
"""

from __future__ import annotations

import hashlib
import pickle
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ductwork.core.errors import ValidationError
from ductwork.sdk import artifact
from ductwork.sdk.artifact import ArtifactOptions
from ductwork.sdk.checks import require_str
from ductwork.sdk.taskcore import TaskCore

UNIQUENESS = "uniqueness_columns"


@dataclass
class _Entry:
    frame: Any
    metadata: dict[str, Any]
    digest: bytes = b""  # of the content last uploaded


class Registered:
    """The registered frames of one task; each flush of the task uploads those that changed."""

    def __init__(self, task: TaskCore) -> None:
        self._task = task
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        task._before_flush.append(self.sync)

    @classmethod
    def of(cls, task: TaskCore) -> Registered:
        return task._part(Registered, Registered)

    def register(
        self,
        name: str,
        frame: Any,
        metadata: Mapping[str, Any] | None,
        uniqueness_columns: bool | Sequence[str],
    ) -> None:
        require_str("name", name)
        if not name.strip():
            raise ValidationError(
                f"register_artifact: artifact name must not be empty (task {self._task.id})"
            )
        if type(frame).__module__.split(".")[0] != "pandas" or not hasattr(frame, "columns"):
            raise ValidationError(
                f"register_artifact({name!r}): artifact must be a pandas DataFrame, "
                f"got {type(frame).__name__}"
            )
        if metadata is not None and not isinstance(metadata, Mapping):
            raise ValidationError(
                f"register_artifact({name!r}): metadata must be a dict, got {type(metadata).__name__}"
            )
        columns = _uniqueness(name, frame, uniqueness_columns)
        entry = _Entry(frame, {**(metadata or {}), UNIQUENESS: columns})
        with self._lock:
            self._entries[name] = entry
            self._upload(name, entry)

    def unregister(self, name: str) -> None:
        """Stop syncing `name` (what was uploaded stays); an unknown name is ignored."""
        require_str("name", name)
        with self._lock:
            self._entries.pop(name, None)

    def frames(self) -> dict[str, Any]:
        with self._lock:
            return {name: entry.frame for name, entry in self._entries.items()}

    def sync(self) -> None:
        """Upload every registered frame whose content changed since its last upload."""
        with self._lock:
            for name, entry in self._entries.items():
                self._upload(name, entry)

    def _upload(self, name: str, entry: _Entry) -> None:
        digest = _digest(entry.frame)
        if digest == entry.digest:
            return
        options = ArtifactOptions(metadata=entry.metadata)
        artifact.upload(
            self._task, name, entry.frame, options, auto_pickle=None, wait_on_upload=False, sort_keys=True
        )
        entry.digest = digest


def _uniqueness(name: str, frame: Any, wanted: bool | Sequence[str]) -> list[str]:
    """The columns whose values identify a row: all of them for True (ClearML's default)."""
    if wanted is True:
        return [str(column) for column in frame.columns]
    if isinstance(wanted, (str, bytes)) or not isinstance(wanted, Sequence) or not wanted:
        raise ValidationError(
            f"register_artifact({name!r}): uniqueness_columns must be True or a non-empty list of "
            f"column names, got {wanted!r}"
        )
    missing = [column for column in wanted if column not in frame.columns]
    if missing:
        raise ValidationError(
            f"register_artifact({name!r}): uniqueness_columns {missing!r} are not columns of the frame "
            f"({[str(c) for c in frame.columns]!r})"
        )
    return [str(column) for column in wanted]


def _digest(frame: Any) -> bytes:
    """A cheap fingerprint of a frame's content, columns and types."""
    import pandas as pd

    shape = repr((list(frame.columns), [str(t) for t in frame.dtypes], frame.shape)).encode()
    try:
        rows = pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes()
    except TypeError:  # unhashable cells (lists, dicts): the pickled frame says the same
        rows = pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL)
    return hashlib.blake2b(shape + rows, digest_size=16).digest()
