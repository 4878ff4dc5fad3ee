"""Console capture: one proxy on sys.stdout / sys.stderr for the whole process.

Every write goes to the original stream first, then to the console of the task that is current
in the writing context (see `ductwork.sdk.current`), so concurrent in-process steps keep their
own logs. Lines are cut at newlines and handed to the batched console writer; nothing here calls
the backend.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable
from typing import IO, Any

from ductwork.core.records import ConsoleLine
from ductwork.sdk import current
from ductwork.sdk.batcher import Batcher
from ductwork.sdk.capture.sink import ConsoleSink


class StreamProxy:
    """Stands in for sys.stdout or sys.stderr; everything but `write` goes to the original."""

    def __init__(self, original: IO[str], stream: str) -> None:
        self._original = original
        self._stream = stream

    def write(self, text: str) -> int:
        written = self._original.write(text)
        task = current.get()
        if task is not None and text:
            sink = task._console
            if sink is not None:
                sink.write(self._stream, text if isinstance(text, str) else str(text))
        return written

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._original.flush()

    @property
    def original(self) -> IO[str]:
        return self._original

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


_install_lock = threading.Lock()


def install(logging_handlers: bool = True) -> None:
    """Put the proxies on sys.stdout / sys.stderr (once; a stream someone else replaced is wrapped too).

    With `logging_handlers`, logging handlers made earlier that write to the original streams
    (`logging.basicConfig()` before `Task.init`) are pointed at the proxies, so log records
    reach the console too."""
    if isinstance(sys.stdout, StreamProxy) and isinstance(sys.stderr, StreamProxy) and not logging_handlers:
        return  # installed already (asked again for each debug step)
    with _install_lock:
        if not isinstance(sys.stdout, StreamProxy) and sys.stdout is not None:
            sys.stdout = StreamProxy(sys.stdout, "stdout")
        if not isinstance(sys.stderr, StreamProxy) and sys.stderr is not None:
            sys.stderr = StreamProxy(sys.stderr, "stderr")
        if logging_handlers and "logging" in sys.modules:
            _redirect_logging_handlers()


def _redirect_logging_handlers() -> None:
    import logging

    proxies = {
        id(proxy.original): proxy for proxy in (sys.stdout, sys.stderr) if isinstance(proxy, StreamProxy)
    }
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):
            if type(handler) is logging.StreamHandler and id(handler.stream) in proxies:
                handler.setStream(proxies[id(handler.stream)])


def uninstall() -> None:
    with _install_lock:
        if isinstance(sys.stdout, StreamProxy):
            sys.stdout = sys.stdout.original
        if isinstance(sys.stderr, StreamProxy):
            sys.stderr = sys.stderr.original


def original_stdout() -> IO[str]:
    out = sys.stdout
    return out.original if isinstance(out, StreamProxy) else out


def original_stderr() -> IO[str]:
    err = sys.stderr
    return err.original if isinstance(err, StreamProxy) else err


def attach(task_id: str, batcher: Batcher[ConsoleLine], streams: frozenset[str]) -> ConsoleSink:
    """A sink for the console of task `task_id`, with the proxies installed to feed it."""
    install(logging_handlers="logging" in streams)
    return ConsoleSink(task_id, batcher, streams)
