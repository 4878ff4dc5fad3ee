"""`parse`: `ast.parse` that threads may call at once.

CPython 3.11 keeps the depth counter of its AST constructor per interpreter, not per thread: two
threads building trees at once (two decorator pipelines capturing their steps, say) can end in
`SystemError: AST constructor recursion depth mismatch` (python/cpython#106905). Every parse in
ductwork goes through this lock; parsing is fast and rare, so nobody waits long. Code that
parses through a library (`inspect.getsource` of a class reads the file's tree) holds `LOCK`
around the call; it is re-entrant, so `parse` may be called inside it.
"""

from __future__ import annotations

import ast
import threading

LOCK = threading.RLock()


def parse(source: str, filename: str = "<unknown>") -> ast.Module:
    """`ast.parse(source, filename)`, one thread at a time."""
    with LOCK:
        return ast.parse(source, filename)
