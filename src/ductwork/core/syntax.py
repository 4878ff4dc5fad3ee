"""`parse`: `ast.parse` that threads may call at once.

CPython 3.11 keeps the depth counter of its AST constructor per interpreter, not per thread: two
threads building trees at once (two decorator pipelines capturing their steps, say) can end in
`SystemError: AST constructor recursion depth mismatch` (python/cpython#106905). Every parse in
ductwork goes through this lock; parsing is fast and rare, so nobody waits long.
"""

from __future__ import annotations

import ast
import threading

_lock = threading.Lock()


def parse(source: str, filename: str = "<unknown>") -> ast.Module:
    """`ast.parse(source, filename)`, one thread at a time."""
    with _lock:
        return ast.parse(source, filename)
