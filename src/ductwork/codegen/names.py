"""What the names a definition reads mean: closure cells, module globals, literal constants.

Each definition is compiled on its own (with postponed annotations, so type hints are never
needed) and the names its bytecode loads as globals are the names it needs. That is exact: local
variables, attributes and annotations are never mistaken for globals.
"""

from __future__ import annotations
import __future__

import ast
import dis
import math
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ductwork.codegen.definitions import Source
from ductwork.core.errors import ValidationError

MISSING = object()


@dataclass(frozen=True)
class Check:
    """One fact a cached capture relied on: ``namespace[name]`` (or a closure cell) held ``value``."""

    namespace: Mapping[str, Any] | None
    name: str
    cell: types.CellType | None
    value: Any
    text: str | None  # for mutable constants: the text they were rendered as
    snapshot: Any = None  # and a deep copy of them then, for a quick equality check

    def holds(self) -> bool:
        if self.cell is not None:
            try:
                current = self.cell.cell_contents
            except ValueError:
                return False
        else:
            assert self.namespace is not None
            current = self.namespace.get(self.name, MISSING)
        if current is not self.value:
            return False
        if self.text is None or current == self.snapshot:
            return True
        return is_literal(current) and literal_source(current) == self.text  # nan != nan, but same text


def lookup(name: str, found: Source, what: str) -> tuple[Any, Check]:
    """What ``name`` means to a definition: its closure first, then its module's globals."""
    cell = found.freevars.get(name)
    if cell is not None:
        try:
            value = cell.cell_contents
        except ValueError:
            raise ValidationError(
                f"cannot capture {what}: closure variable {name!r} is not assigned yet"
            ) from None
        return value, Check(None, name, cell, value, None)
    namespace = found.namespace
    value = namespace.get(name, MISSING)
    if value is MISSING and name in found.known:
        namespace = found.known
        value = namespace[name]
    return value, Check(namespace, name, None, value, None)


_LOADS = frozenset({"LOAD_GLOBAL", "LOAD_NAME", "LOAD_FROM_DICT_OR_GLOBALS", "DELETE_GLOBAL"})
_ANNOTATIONS_FLAG = __future__.annotations.compiler_flag


def global_names(source: str, what: str) -> list[str]:
    """Names the source reads from its module scope, in first-use order, excluding what it defines."""
    try:
        code = compile(source, "<captured>", "exec", flags=_ANNOTATIONS_FLAG, dont_inherit=True)
    except SyntaxError as exc:
        raise ValidationError(f"cannot capture {what}: {exc}") from None
    defined = {i.argval for i in dis.get_instructions(code) if i.opname == "STORE_NAME"}
    found: dict[str, None] = {}
    _walk_code(code, found, top=True)
    return [name for name in found if name not in defined]


def _walk_code(code: types.CodeType, found: dict[str, None], *, top: bool) -> None:
    # A class body reads its own attributes with LOAD_NAME too; those are not globals.
    own = set() if top else {i.argval for i in dis.get_instructions(code) if i.opname == "STORE_NAME"}
    for instruction in dis.get_instructions(code):
        if instruction.opname in _LOADS and instruction.argval not in own:
            found.setdefault(instruction.argval)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            _walk_code(const, found, top=False)


def imported_modules(tree: ast.Module) -> Iterator[str]:
    """Top-level names of the absolute imports anywhere in ``tree`` (function bodies too)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.partition(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module not in (None, "__future__"):
            assert node.module is not None
            yield node.module.partition(".")[0]


_SCALARS = (type(None), bool, int, float, complex, str, bytes)


def is_literal(value: Any, depth: int = 0) -> bool:
    """None, bools, numbers, strings, bytes, and tuples/lists/sets/dicts of those."""
    if depth > 50:
        return False
    kind = type(value)
    if kind in _SCALARS:
        return True
    if kind in (tuple, list, set, frozenset):
        return all(is_literal(item, depth + 1) for item in value)
    if kind is dict:
        return all(is_literal(k, depth + 1) and is_literal(v, depth + 1) for k, v in value.items())
    return False


def literal_source(value: Any) -> str:
    """Python source that evaluates to ``value`` (sets sorted by their text, so output is stable)."""
    kind = type(value)
    if kind is float and not math.isfinite(value):
        return f'float("{value}")'
    if kind is complex:
        return f"complex({literal_source(value.real)}, {literal_source(value.imag)})"
    if kind in _SCALARS:
        return repr(value)
    if kind is tuple:
        items = ", ".join(literal_source(item) for item in value)
        return f"({items},)" if len(value) == 1 else f"({items})"
    if kind is list:
        return "[" + ", ".join(literal_source(item) for item in value) + "]"
    if kind in (set, frozenset):
        texts = sorted(literal_source(item) for item in value)
        inner = "{" + ", ".join(texts) + "}" if texts else ""
        return f"frozenset({inner})" if kind is frozenset else (inner or "set()")
    if kind is dict:
        return "{" + ", ".join(f"{literal_source(k)}: {literal_source(v)}" for k, v in value.items()) + "}"
    raise TypeError(kind)


def rebuild(name: str, value: Any) -> tuple[str, str] | None:
    """An import and an assignment that recreate a common non-literal global (a regex, a logger)."""
    import logging
    import re

    if isinstance(value, re.Pattern):
        flags = value.flags & ~(re.UNICODE if isinstance(value.pattern, str) else 0)
        extra = f", {flags}" if flags else ""
        return "import re", f"{name} = re.compile({value.pattern!r}{extra})"
    if type(value) is logging.Logger or type(value) is logging.RootLogger:
        argument = "" if isinstance(value, logging.RootLogger) else repr(value.name)
        return "import logging", f"{name} = logging.getLogger({argument})"
    return _standard_value(name, value)


# Standard-library value types whose repr is an expression that rebuilds them, given the import.
_REPR_IMPORTS = {
    ("pathlib", "PurePath"): "from pathlib import {cls}",
    ("pathlib", "PurePosixPath"): "from pathlib import {cls}",
    ("pathlib", "PureWindowsPath"): "from pathlib import {cls}",
    ("pathlib", "Path"): "from pathlib import {cls}",
    ("pathlib", "PosixPath"): "from pathlib import {cls}",
    ("pathlib", "WindowsPath"): "from pathlib import {cls}",
    ("datetime", "date"): "import datetime",
    ("datetime", "datetime"): "import datetime",
    ("datetime", "time"): "import datetime",
    ("datetime", "timedelta"): "import datetime",
    ("decimal", "Decimal"): "from decimal import {cls}",
    ("fractions", "Fraction"): "from fractions import {cls}",
    ("uuid", "UUID"): "from uuid import {cls}",
}


def _standard_value(name: str, value: Any) -> tuple[str, str] | None:
    """``DATA = PosixPath('/data')``, ``START = datetime.date(2024, 1, 2)``: only when evaluating
    the text really gives an equal value back."""
    kind = type(value)
    # by package: pathlib's classes live in pathlib._local since Python 3.13
    template = _REPR_IMPORTS.get((kind.__module__.partition(".")[0], kind.__qualname__))
    if template is None:
        return None
    import_line = template.format(cls=kind.__qualname__)
    text = repr(value)
    namespace: dict[str, Any] = {}
    try:
        exec(import_line, namespace)
        if eval(text, namespace) != value:
            return None
    except Exception:  # a repr that is not an expression (a time zone without one, say)
        return None
    return import_line, f"{name} = {text}"
