"""Captures cached per function object, with the facts they relied on re-checked on each hit
(the globals and closure cells they read must still hold the same objects)."""

from __future__ import annotations

import threading
import types
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ductwork.codegen.captured import Captured
from ductwork.codegen.names import MISSING, Check


@dataclass(frozen=True)
class Entry:
    """A capture and the facts it relied on, split by kind so checking them is a tight loop."""

    captured: Captured
    bindings: tuple[tuple[Mapping[str, Any], str, Any], ...]  # namespace[name] is value
    cells: tuple[tuple[types.CellType, Any], ...]  # cell holds value
    texts: tuple[Check, ...]  # mutable constants, which may have changed in place

    @classmethod
    def of(cls, captured: Captured, checks: Sequence[Check]) -> Entry:
        bindings: dict[tuple[int, str], tuple[Mapping[str, Any], str, Any]] = {}
        cells: dict[int, tuple[types.CellType, Any]] = {}
        for check in checks:
            if check.cell is not None:
                cells[id(check.cell)] = (check.cell, check.value)
            elif check.namespace is not None:
                bindings[(id(check.namespace), check.name)] = (check.namespace, check.name, check.value)
        texts = tuple(check for check in checks if check.text is not None)
        return cls(captured, tuple(bindings.values()), tuple(cells.values()), texts)

    def still_holds(self) -> bool:
        for namespace, name, value in self.bindings:
            if namespace.get(name, MISSING) is not value:
                return False
        for cell, value in self.cells:
            try:
                if cell.cell_contents is not value:
                    return False
            except ValueError:
                return False
        return all(check.holds() for check in self.texts)


_entries: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], Entry]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def cached(func: Any, key: tuple[Any, ...]) -> Entry | None:
    """The entry remembered for ``func`` and ``key``, if the facts it relied on still hold."""
    with _lock:
        try:
            entry = _entries.get(func, {}).get(key)
        except TypeError:  # an object that cannot be weakly referenced is never cached
            return None
    return entry if entry is not None and entry.still_holds() else None


def remember(func: Any, key: tuple[Any, ...], entry: Entry) -> None:
    with _lock:
        try:
            _entries.setdefault(func, {})[key] = entry
        except TypeError:
            pass
