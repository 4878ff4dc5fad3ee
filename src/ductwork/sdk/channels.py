"""The background writers of one backend: metric events and console lines, each batched.

One pair per backend for the whole process (not one thread per task), so a run with thousands
of in-process steps still has two writer threads.
"""

from __future__ import annotations

import threading

from ductwork.client.contract import Backend
from ductwork.core.records import ConsoleLine, MetricEvent
from ductwork.sdk.batcher import Batcher

# A scalar as the caller queues it: the fields of MetricEvent in order. A tuple costs a fifth
# of a dataclass instance; the writer thread builds the records.
ScalarRow = tuple[str, str, str, str, int, float, None, float]


class Channels:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.events: Batcher[MetricEvent | ScalarRow] = Batcher(
            self._send_events, name="metric", interval=0.5
        )
        self.console: Batcher[ConsoleLine] = Batcher(
            backend.add_console, name="console", interval=0.5, max_items=5_000
        )

    def _send_events(self, batch: list[MetricEvent | ScalarRow]) -> None:
        self.backend.add_events([MetricEvent(*item) if type(item) is tuple else item for item in batch])  # type: ignore[misc]

    def flush(self) -> None:
        """Send all events and console lines; raise the first write error."""
        errors: list[Exception] = []
        for batcher in (self.events, self.console):
            try:
                batcher.flush()
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise errors[0]


_lock = threading.Lock()
_by_backend: dict[int, Channels] = {}


def of(backend: Backend) -> Channels:
    key = id(backend)
    channels = _by_backend.get(key)
    if channels is None or channels.backend is not backend:
        with _lock:
            channels = _by_backend.get(key)
            if channels is None or channels.backend is not backend:
                channels = _by_backend[key] = Channels(backend)
    return channels
