"""Work that must finish at interpreter exit while the standard library's thread pools still
take work.

When the main thread ends, Python first runs the hooks registered with
`threading._register_atexit` (the last registered first), then joins the other threads, and
only then runs `atexit` handlers. `concurrent.futures` closes every thread pool in one such
hook, and refuses to import for the first time after it. An upload still running in a
background thread after that point fails as soon as its storage client needs a pool (s3fs and
aiobotocore do, for name lookups and credentials): a script whose last line uploads an artifact
to object storage would lose it. So background uploads are drained in a hook of their own,
registered after the pools' hook, which makes it run before it.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable


def before_thread_pools_close(wait: Callable[[], None]) -> None:
    """Run `wait` at interpreter exit, before the thread pools close (see the module doc)."""
    import concurrent.futures.thread  # noqa: F401  (its hook registered first, so it runs after ours)

    register = getattr(threading, "_register_atexit", None)
    try:
        if register is not None:
            register(wait)
            return
    except RuntimeError:  # the interpreter is already exiting: too late to come first
        pass
    atexit.register(wait)
