"""`TaskCore`: the part of a Task every other part stands on.

It holds the task's identity and cached record, its backend, and what this process keeps for it
while it runs: the batched writers (`channels`), the background uploads, the console sink and
the capture switches. The logger, artifacts, models, parameters and capture take a `TaskCore`;
`ductwork.sdk.task.Task` composes them on top of it, so nothing here knows of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from ductwork.client.contract import Backend
from ductwork.core.records import TaskRecord
from ductwork.sdk import channels
from ductwork.sdk.capture.resources import ResourceMonitor
from ductwork.sdk.capture.sink import ConsoleSink
from ductwork.sdk.uploads import Uploads

P = TypeVar("P")
T = TypeVar("T", bound="TaskCore")


class TaskCore:
    def __init__(self, record: TaskRecord, backend: Backend, *, remote: bool = False) -> None:
        self._record = record
        self._backend = backend
        self._remote = remote  # run by an agent or a pipeline: connected values come from the task
        self._channels = channels.of(backend)
        self._uploads = Uploads(record.id)
        self._console: ConsoleSink | None = None
        self._frameworks: dict[str, bool] = {}
        self._captures_args = False
        self._owned = False  # this process started it, so close() completes it
        self._closed = False
        self._monitor: ResourceMonitor | None = None
        self._parts: dict[type[object], object] = {}
        # What parts send before each flush and at the end (a registered DataFrame that changed).
        self._before_flush: list[Callable[[], None]] = []

    @classmethod
    def _wrap(cls: type[T], record: TaskRecord, backend: Backend) -> T:
        return cls(record, backend)

    @property
    def id(self) -> str:
        return self._record.id

    @property
    def name(self) -> str:
        return self._record.name

    @property
    def project(self) -> str | None:
        return self._record.project

    @property
    def parent(self) -> str | None:
        return self._record.parent

    @property
    def output_uri(self) -> str | None:
        return self._record.output_uri

    def reload(self: T) -> T:
        self._record = self._backend.get_task(self.id)
        return self

    def _edit(self, changes: Mapping[str, object]) -> None:
        self._record = self._backend.edit_task(self.id, changes)

    def _captures(self, framework: str) -> bool:
        return self._frameworks.get(framework, False)

    def _part(self, kind: type[P], make: Callable[[TaskCore], P]) -> P:
        """The task's one `kind` (its Logger, say), made by `make(task)` on first use.

        Parts stand above the core, so the core keeps them without knowing their types."""
        found = self._parts.get(kind)
        if isinstance(found, kind):
            return found
        made = make(self)
        self._parts[kind] = made
        return made

    def flush(self, wait_for_uploads: bool = False) -> bool:
        """Send reported metrics and console lines; wait for uploads when asked (errors raise)."""
        for send in self._before_flush:
            send()
        if self._console is not None:
            self._console.end_lines()
        self._channels.flush()
        if wait_for_uploads:
            self._uploads.wait()
        return True
