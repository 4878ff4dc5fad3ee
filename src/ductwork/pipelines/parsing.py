"""One Python parse at a time in this process.

CPython 3.11 keeps the AST constructor's recursion depth per interpreter, not per thread, so two
threads building ASTs at once can fail with `SystemError: AST constructor recursion depth
mismatch` (python/cpython#106905). Several decorator pipelines run in one process, each capturing
its components' code on its own thread while the engine reads a step's imports: the parses they
make are taken in turn under this lock.
"""

from __future__ import annotations

import threading

AST_LOCK = threading.RLock()
