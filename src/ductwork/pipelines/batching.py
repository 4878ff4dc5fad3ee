"""Store calls that belong together, in one go where the transport can group them.

A step's task and its parameters (`run.Run`), and a step's reads and results (`runner`), are
one commit on the embedded store (`Store.batch`: one
transaction instead of one per call; on SQLite in WAL mode with `synchronous=FULL` every commit
is an fsync, which was most of a debug step's cost) and one round trip on a local-mode step's
pipe (`PipeBackend.batch`). The HTTP transport sends each call as it comes.
"""

from __future__ import annotations

from typing import Any

# A backend call: (method, args, kwargs).
Call = tuple[str, tuple[Any, ...], dict[str, Any]]


def calls_in_order(backend: Any, calls: list[Call]) -> list[Any]:
    """Make `calls` one after the other, each as if made alone (the first failure raised, the
    calls after it not made); in one batch when the backend offers `batch`."""
    batch = getattr(backend, "batch", None)
    if callable(batch) and len(calls) > 1:
        results: list[Any] = batch(calls)
        return results
    return [getattr(backend, method)(*args, **kwargs) for method, args, kwargs in calls]
