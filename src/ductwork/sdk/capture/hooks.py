"""Run a callback when a module is imported (or now, if it already is).

Capture patches libraries only if the user's code imports them, so `Task.init` never pays for
importing matplotlib or torch itself.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

Callback = Callable[[ModuleType], None]

_lock = threading.Lock()
_waiting: dict[str, list[Callback]] = {}


def on_import(name: str, callback: Callback) -> None:
    """Call `callback(module)` once `name` is imported; immediately if it already is."""
    module = sys.modules.get(name)
    if module is not None:
        callback(module)
        return
    with _lock:
        waiting = _waiting.setdefault(name, [])
        if callback in waiting:  # asked again (each debug step turns capture on): once is enough
            return
        waiting.append(callback)
        if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
            sys.meta_path.insert(0, _Finder())


def _fire(module: ModuleType) -> None:
    with _lock:
        callbacks = _waiting.pop(module.__name__, [])
    for callback in callbacks:
        try:
            callback(module)
        except Exception as exc:  # a capture must never break the user's import
            print(f"ductwork: could not patch {module.__name__}: {exc}", file=sys.__stderr__)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds nothing itself; wraps the real loader of a watched module to call back after it runs."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _waiting:
            return None
        for finder in sys.meta_path:
            if finder is self:
                continue
            find = getattr(finder, "find_spec", None)
            spec: importlib.machinery.ModuleSpec | None = find(fullname, path, target) if find else None
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _Loader(spec.loader)
                return spec
        return None


class _Loader(importlib.abc.Loader):
    def __init__(self, inner: importlib.abc.Loader) -> None:
        self._inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._inner.exec_module(module)
        _fire(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
