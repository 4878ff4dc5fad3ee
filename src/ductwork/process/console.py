"""A child's stdout and stderr, read on threads of their own and handed over as lines."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import IO

from ductwork.process.child import Child

# At most this much of a child's output is read at once; the lines of one read go as one batch.
CHUNK = 65536


def pump(stream: IO[bytes], deliver: Callable[[list[str]], None]) -> None:
    """Read `stream` until the child closes it, giving `deliver` the whole lines of each read
    (without their newline) and, at the end, an unfinished last line; then close it."""
    pending = b""
    with stream:
        while chunk := os.read(stream.fileno(), CHUNK):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            if lines:
                deliver([line.decode("utf-8", "replace") for line in lines])
    if pending:
        deliver([pending.decode("utf-8", "replace")])


class Output:
    """Pumps a child's two streams into `deliver(stream_name, lines)` from two threads."""

    def __init__(self, child: Child, deliver: Callable[[str, list[str]], None]) -> None:
        self._threads = [
            threading.Thread(
                target=pump,
                args=(stream, lambda lines, name=name: deliver(name, lines)),
                name=f"output-{child.pid}-{name}",
                daemon=True,
            )
            for name, stream in (("stdout", child.stdout), ("stderr", child.stderr))
        ]
        for thread in self._threads:
            thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait until both streams are drained (each at most `timeout` seconds): after the
        child ended, a grandchild that kept the pipes open must not hold its parent up."""
        for thread in self._threads:
            thread.join(timeout)
