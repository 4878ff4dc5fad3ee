"""`ConsoleSink`: the console of one task, cut into lines and handed to the batched writer.

The stream proxies (`capture.console`) write into the sink of the task current where the
write happens; `Logger.report_text` and ductwork's own messages add whole lines.
"""

from __future__ import annotations

import threading
import time

from ductwork.core.records import ConsoleLine
from ductwork.sdk.batcher import Batcher

_MAX_LINE = 64 * 1024  # a longer run without newline is cut, so memory stays bounded


class ConsoleSink:
    """The console of one task: partial lines per stream, complete lines to the batcher."""

    def __init__(
        self,
        task_id: str,
        batcher: Batcher[ConsoleLine],
        streams: frozenset[str] = frozenset({"stdout", "stderr"}),
    ) -> None:
        self.task_id = task_id
        self.streams = streams
        self._batcher = batcher
        self._partial: dict[str, str] = {}
        self._lock = threading.Lock()

    def write(self, stream: str, text: str) -> None:
        if stream not in self.streams:
            return
        with self._lock:
            pending = self._partial.get(stream, "") + text
            *lines, rest = pending.split("\n")
            while len(rest) > _MAX_LINE:
                lines.append(rest[:_MAX_LINE])
                rest = rest[_MAX_LINE:]
            self._partial[stream] = rest
        if any(len(line) > _MAX_LINE for line in lines):
            lines = [line[i : i + _MAX_LINE] for line in lines for i in range(0, len(line) or 1, _MAX_LINE)]
        if lines:
            now = time.time()
            self._batcher.put_many([ConsoleLine(self.task_id, line, stream, now) for line in lines])

    def line(self, text: str, stream: str = "ductwork") -> None:
        """A whole message from ductwork itself (report_text, errors)."""
        now = time.time()
        self._batcher.put_many([ConsoleLine(self.task_id, line, stream, now) for line in text.split("\n")])

    def end_lines(self) -> None:
        """Emit unfinished lines (at flush and close)."""
        with self._lock:
            partial, self._partial = self._partial, {}
        now = time.time()
        lines = [ConsoleLine(self.task_id, text, stream, now) for stream, text in partial.items() if text]
        if lines:
            self._batcher.put_many(lines)
