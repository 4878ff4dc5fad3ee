"""Code capture: turn a step function into a standalone, readable Python module.

``capture(func)`` finds the function's own source (without its decorators, dedented when it was
defined inside another function) and everything the source needs to run somewhere else: the
user-module functions and classes it calls (their source, transitively), the constants it reads
(as assignments), the modules and installed objects it uses (as imports) and the pip requirements
behind those imports. The result is what a step task stores, what the UI shows and what the cache
key hashes, so it must be the same text every time the same code is captured.

How names are found: each piece of source is compiled (with postponed annotations, so type hints
are never needed) and the names its bytecode loads as globals are looked up where the original
code would have found them: the function's closure, then its module's globals. That is exact:
local variables, attributes and annotations are never mistaken for globals.

Nothing here imports anything heavy; results are cached per function object and re-checked
cheaply (the globals they were built from must still hold the same objects).
"""

from __future__ import annotations
import __future__

import ast
import dis
import hashlib
import linecache
import math
import sys
import threading
import types
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ductwork.core.errors import ValidationError

__all__ = ["Captured", "capture", "load"]


@dataclass(frozen=True)
class Captured:
    """A function captured as a standalone module.

    ``source`` defines ``name`` and everything it needs; ``imports`` are its module-level import
    lines; ``requirements`` are pip lines (``numpy==2.4.6``) for the installed distributions its
    imports come from; ``unresolved`` are imported top-level modules that are neither in the
    standard library nor installed from a distribution (local modules, or packages missing here);
    ``digest`` is the sha256 of ``source``.
    """

    source: str
    name: str
    imports: list[str]
    requirements: list[str]
    digest: str
    unresolved: list[str] = field(default_factory=list)


def capture(
    func: Callable[..., Any],
    *,
    helper_functions: Sequence[Callable[..., Any]] = (),
    skip_global_imports: bool = False,
) -> Captured:
    """Capture ``func`` (and ``helper_functions``) as a standalone module; see the module doc.

    Decorators stacked on ``func`` are unwrapped to the innermost user function and left out of
    its source. With ``skip_global_imports``, import lines are derived from the imported objects
    themselves instead of copied from the module's own import statements.
    Raises ValidationError naming the function and the global it cannot capture.
    """
    helpers = tuple(helper_functions)
    key = (helpers, bool(skip_global_imports))
    with _cache_lock:
        entry = _cached(func, key)
    if entry is not None:
        return entry.captured
    entry = _Builder(skip_global_imports).build(func, helpers)
    with _cache_lock:
        try:
            _cache.setdefault(func, {})[key] = entry
        except TypeError:  # an object that cannot be weakly referenced: just do not cache it
            pass
    return entry.captured


def load(code: Captured | str, module_name: str = "__ductwork_step__") -> types.ModuleType:
    """Run captured source as a module and return it.

    The module is in ``sys.modules`` while its code runs (dataclasses look their module up there)
    and taken out afterwards, so cloudpickle stores its functions and classes by value: what a step
    returns can be loaded by a process that never saw this code. Its source goes into
    ``linecache``, so tracebacks from the step show the lines that failed.
    """
    source = code.source if isinstance(code, Captured) else code
    filename = f"<ductwork step {module_name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    module = types.ModuleType(module_name)
    module.__file__ = filename
    previous = sys.modules.get(module_name)
    sys.modules[module_name] = module
    try:
        exec(compile(source, filename, "exec", dont_inherit=True), vars(module))
    finally:
        if previous is None:
            sys.modules.pop(module_name, None)
        else:
            sys.modules[module_name] = previous
    return module


# -- the cache ------------------------------------------------------------------------------------

_MISSING = object()


@dataclass(frozen=True)
class _Check:
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
            current = self.namespace.get(self.name, _MISSING)
        if current is not self.value:
            return False
        if self.text is None or current == self.snapshot:
            return True
        return _is_literal(current) and _literal(current) == self.text  # nan != nan, but same text


@dataclass(frozen=True)
class _Entry:
    """A capture and the facts it relied on, split by kind so checking them is a tight loop."""

    captured: Captured
    bindings: tuple[tuple[Mapping[str, Any], str, Any], ...]  # namespace[name] is value
    cells: tuple[tuple[types.CellType, Any], ...]  # cell holds value
    texts: tuple[_Check, ...]  # mutable constants, which may have changed in place

    @classmethod
    def of(cls, captured: Captured, checks: Sequence[_Check]) -> _Entry:
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
            if namespace.get(name, _MISSING) is not value:
                return False
        for cell, value in self.cells:
            try:
                if cell.cell_contents is not value:
                    return False
            except ValueError:
                return False
        return all(check.holds() for check in self.texts)


_cache: weakref.WeakKeyDictionary[Any, dict[tuple[Any, ...], _Entry]] = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


def _cached(func: Any, key: tuple[Any, ...]) -> _Entry | None:
    try:
        entry = _cache.get(func, {}).get(key)
    except TypeError:
        return None
    return entry if entry is not None and entry.still_holds() else None


# -- building one capture -------------------------------------------------------------------------


@dataclass
class _Piece:
    """One top-level definition of the generated module: a def, a class or a lambda assignment."""

    name: str
    source: str
    aliases: list[str] = field(default_factory=list)


class _Builder:
    """Collects the pieces of one generated module, depth first so definitions precede their users."""

    def __init__(self, skip_global_imports: bool) -> None:
        self.skip_global_imports = skip_global_imports
        self.imports: dict[str, None] = {}  # import lines, in discovery order (sorted at the end)
        self.constants: list[str] = []
        self.pieces: list[_Piece] = []
        self.bound: dict[str, tuple[tuple[str, Any], str]] = {}  # name -> (what it is, who bound it)
        self.main: Any = None
        self.done: dict[int, _Piece] = {}  # id(object) -> its piece (also while in progress)
        self.keep_alive: list[Any] = []  # objects whose ids are keys of ``done``
        self.modules_used: dict[str, None] = {}  # top-level module names, for requirements
        self.checks: list[_Check] = []

    def build(self, func: Callable[..., Any], helpers: tuple[Callable[..., Any], ...]) -> _Entry:
        main = _unwrap(func)
        for helper in helpers:
            if _unwrap_quietly(helper) is not main:
                self._add_definition(helper, _describe(helper), main=False)
        piece = self._add_definition(main, _describe(main), main=True)
        source = self._render()
        captured = Captured(
            source=source,
            name=piece.name,
            imports=sorted(self.imports, key=_import_sort_key),
            requirements=_requirements(self.modules_used),
            digest=hashlib.sha256(source.encode()).hexdigest(),
            unresolved=_unresolved(self.modules_used),
        )
        return _Entry.of(captured, self.checks)

    # -- definitions --

    def _add_definition(self, obj: Any, what: str, *, main: bool) -> _Piece:
        """Capture a user function or class (and, first, what it needs); return its piece."""
        existing = self.done.get(id(obj))
        if existing is not None:
            return existing  # done, or in progress: a definition that (indirectly) needs itself
        found = _locate(obj, what, keep_decorators=not main)
        if "__class__" in found.freevars:
            raise ValidationError(f"cannot capture {what}: it uses super() or __class__, which need a class")
        piece = _Piece(found.name, found.source)
        self.done[id(obj)] = piece
        self.keep_alive.append(obj)
        if main:
            self.main = obj
        self._bind(found.name, ("object", id(obj)), what)
        for name in _global_names(found.source, what):
            self._add_global(name, found, what)
        self.pieces.append(piece)  # after everything it needs, so classes follow their bases
        for module in _imported_modules(found.tree):
            self.modules_used.setdefault(module)
        return piece

    def _alias(self, piece: _Piece, name: str) -> None:
        line = f"{name} = {piece.name}"
        if name != piece.name and line not in piece.aliases:
            piece.aliases.append(line)

    def _add_global(self, name: str, found: _Source, what: str) -> None:
        """Make ``name`` (read by ``found``'s source) mean in the generated module what it meant there."""
        if name.startswith("__") and name.endswith("__"):
            return  # the generated module has its own __name__, __file__, ...
        value, check = _lookup(name, found, what)
        if value is _MISSING:
            return  # a builtin, or undefined: the generated code behaves as the original would
        kind = "closure variable" if check.cell is not None else "global"
        who = f"{what} uses {kind} {name!r}"
        if self.main is not None and _unwrap_quietly(value) is self.main:
            value = self.main  # the captured function itself (say, called recursively): no decorators
            self._alias(self.done[id(value)], name)
        else:
            literal = self._emit(name, value, found.module, who)
            if literal is not None:
                mutable = isinstance(value, (list, dict, set))
                if mutable:  # a list can change in place: remember what it held
                    import copy

                    snapshot = copy.deepcopy(value)
                    self.checks.append(_Check(check.namespace, name, check.cell, value, literal, snapshot))
                else:
                    self.checks.append(_Check(check.namespace, name, check.cell, value, None))
                self._bind(name, ("literal", literal), who)
                return
        self.keep_alive.append(value)
        self.checks.append(check)
        self._bind(name, ("object", id(value)), who)

    def _emit(self, name: str, value: Any, module_name: str, who: str) -> str | None:
        """Emit what binds ``name`` to ``value`` (as seen from ``module_name``); return a literal
        constant's text, else None."""
        if isinstance(value, types.ModuleType):
            self._add_import(self._module_import(name, value, module_name, who))
            return None
        source_object = _user_definition(value)
        if source_object is not None:
            self._alias(self._add_definition(source_object, _describe(source_object), main=False), name)
            return None
        line = None if self.skip_global_imports else _module_imports(module_name).get(name)
        if line and _import_binds(line, name, value) and not _is_user_module(_import_source(line)):
            self._add_import(line)
            return None
        line = _object_import(name, value)
        if line is not None:
            self._add_import(line)
            return None
        if _is_literal(value):
            literal = _literal(value)
            self._add_constant(f"{name} = {literal}")
            return literal
        member = self._enum_member(name, value, module_name, who)
        if member is not None:
            # after the definitions so far, which include its class
            if all(piece.source != member for piece in self.pieces):
                self.pieces.append(_Piece(name, member))
            return None
        rebuilt = _rebuild(name, value)
        if rebuilt is not None:
            import_line, text = rebuilt
            self._add_import(import_line)
            self._add_constant(text)
            return None
        raise ValidationError(
            f"cannot capture {who}: it is a {type(value).__module__}.{type(value).__qualname__} "
            f"object, which is not a module, a function, a class or a literal constant; create it "
            f"inside the function, or pass it in as an argument"
        )

    def _enum_member(self, name: str, value: Any, module_name: str, who: str) -> str | None:
        """``NAME = Colour.RED`` for an enum member, with its class captured or imported."""
        import enum

        if not isinstance(value, enum.Enum):
            return None
        cls = type(value)
        if "." in cls.__qualname__:
            return None  # a class nested in another: not reachable by one name
        self._emit(cls.__name__, cls, module_name, who)
        self._bind(cls.__name__, ("object", id(cls)), who)
        self.keep_alive.append(cls)
        return f"{name} = {cls.__name__}.{value.name}\n"

    def _add_constant(self, line: str) -> None:
        if line not in self.constants:
            self.constants.append(line)

    def _module_import(self, name: str, module: types.ModuleType, owner_module: str, who: str) -> str:
        if module.__name__ == "__main__":
            raise ValidationError(f"cannot capture {who}: it is the __main__ module, which has no import")
        if not self.skip_global_imports:
            line = _module_imports(owner_module).get(name)
            if line is not None and _import_binds(line, name, module):
                return line
        full = module.__name__
        parent, _, last = full.rpartition(".")
        if full == name:
            return f"import {full}"
        if parent and last == name:
            return f"from {parent} import {last}"
        return f"import {full} as {name}"

    def _add_import(self, line: str) -> None:
        self.imports.setdefault(line)
        self.modules_used.setdefault(_import_source(line).partition(".")[0])

    def _bind(self, name: str, key: tuple[str, Any], what: str) -> None:
        """Record that the generated module binds ``name``; two different meanings are an error."""
        previous = self.bound.get(name)
        if previous is None:
            self.bound[name] = (key, what)
            return
        if previous[0] != key:
            raise ValidationError(
                f"cannot capture: the name {name!r} means two different things ({previous[1]}; {what}); "
                f"rename one of them"
            )

    def _render(self) -> str:
        parts = ["from __future__ import annotations"]
        imports = sorted(self.imports, key=_import_sort_key)
        if imports:
            parts.append("\n".join(imports))
        if self.constants:
            parts.append("\n".join(self.constants))
        blocks = []
        for piece in self.pieces:
            blocks.append(piece.source.rstrip("\n"))
            if piece.aliases:
                blocks.append("\n".join(piece.aliases))
        definitions = "\n\n\n".join(blocks)
        return "\n\n".join(parts) + "\n\n\n" + definitions + "\n"


# -- finding what a function is -------------------------------------------------------------------


def _unwrap(func: Any) -> Any:
    """The innermost user function under stacked decorators."""
    if isinstance(func, types.MethodType):
        raise ValidationError(
            f"cannot capture bound method {func.__qualname__!r}: pass a plain function or a staticmethod"
        )
    seen: set[int] = set()
    while id(func) not in seen:
        seen.add(id(func))
        if isinstance(func, (staticmethod, classmethod)):
            func = func.__func__
            continue
        inner = getattr(func, "__wrapped__", None)
        if inner is not None and callable(inner) and not isinstance(func, type):
            func = inner
            continue
        if isinstance(func, types.FunctionType):
            inner = _wrapped_in_closure(func)
            if inner is not None:
                func = inner
                continue
        break
    if not isinstance(func, types.FunctionType):
        kind = "functools.partial" if type(func).__name__ == "partial" else type(func).__qualname__
        raise ValidationError(
            f"cannot capture {func!r}: it is a {kind}, not a Python function; wrap the call in a function"
        )
    return func


_PASSES_ARGUMENTS_ON = (
    0x04 | 0x08
)  # CO_VARARGS | CO_VARKEYWORDS (inspect's values; inspect is slow to import)


def _unwrap_quietly(value: Any) -> Any:
    try:
        return _unwrap(value)
    except ValidationError:
        return None


def _wrapped_in_closure(func: types.FunctionType) -> types.FunctionType | None:
    """The function a decorator's wrapper closes over, when ``func`` is such a wrapper.

    A wrapper is defined inside its decorator (its qualname has ``<locals>``), holds the decorated
    function in a closure cell (a function defined elsewhere: one its own scope defined shares its
    qualname prefix) and passes arguments on, so it takes ``*args``/``**kwargs`` or copies the
    function's name. A step made by a factory (``def make(f): def step(x): return f(x)``) has an
    ordinary signature of its own and is kept.
    """
    if not func.__closure__ or "<locals>" not in func.__qualname__:
        return None
    scope = func.__qualname__.rpartition(".")[0]
    passes_arguments_on = bool(func.__code__.co_flags & _PASSES_ARGUMENTS_ON)
    candidates = []
    for cell in func.__closure__:
        try:
            value = cell.cell_contents
        except ValueError:
            continue
        if not isinstance(value, types.FunctionType) or value.__qualname__.rpartition(".")[0] == scope:
            continue
        if passes_arguments_on or value.__name__ == func.__name__:
            candidates.append(value)
    if len(candidates) > 1:
        candidates = [c for c in candidates if c.__name__ == func.__name__] or candidates
    if len(candidates) > 1:
        names = ", ".join(sorted(c.__qualname__ for c in candidates))
        raise ValidationError(
            f"cannot tell which function the wrapper {func.__qualname__!r} decorates (it holds {names}); "
            f"use functools.wraps in the decorator"
        )
    return candidates[0] if candidates else None


def _user_definition(value: Any) -> Any:
    """The function or class whose source defines ``value``, if ``value`` comes from user code."""
    if isinstance(value, type):
        return value if _is_user_module(value.__module__) else None
    if not callable(value) or isinstance(value, types.BuiltinFunctionType):
        return None
    module = getattr(value, "__module__", None)
    if not isinstance(module, str) or not _is_user_module(module):
        return None
    if isinstance(value, types.FunctionType):
        return value
    if getattr(value, "__wrapped__", None) is not None:
        return value  # a decorated user function: _locate finds the decorated definition
    return None


def _describe(obj: Any) -> str:
    kind = "class" if isinstance(obj, type) else "function"
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", repr(obj))
    return f"{kind} {name!r} (module {getattr(obj, '__module__', '?')})"


def _lookup(name: str, found: _Source, what: str) -> tuple[Any, _Check]:
    """What ``name`` means to a definition: its closure first, then its module's globals."""
    cell = found.freevars.get(name)
    if cell is not None:
        try:
            value = cell.cell_contents
        except ValueError:
            raise ValidationError(
                f"cannot capture {what}: closure variable {name!r} is not assigned yet"
            ) from None
        return value, _Check(None, name, cell, value, None)
    namespace = found.namespace
    value = namespace.get(name, _MISSING)
    if value is _MISSING and name in found.known:
        namespace = found.known
        value = namespace[name]
    return value, _Check(namespace, name, None, value, None)


# -- source text ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    """A definition's standalone source text, the name it binds and its closure cells."""

    name: str
    source: str
    tree: ast.Module
    freevars: Mapping[str, types.CellType]
    namespace: Mapping[str, Any]  # the globals of the module it was defined in
    module: str  # that module's name
    known: Mapping[str, Any] = field(default_factory=dict)  # values found another way (class bases)


def _locate(obj: Any, what: str, *, keep_decorators: bool) -> _Source:
    """Find ``obj``'s definition in its file and cut it out as top-level source."""
    inner = obj if isinstance(obj, type) else _unwrap_quietly(obj)
    if inner is None:
        raise ValidationError(f"cannot capture {what}: no Python function found under it")
    filename, tree = _file_tree(inner, what)
    if isinstance(inner, type):
        node: ast.AST = _find_class(tree, inner, what)
    elif inner.__name__ == "<lambda>":
        return _lambda_source(inner, filename, tree, what)
    else:
        node = _find_function(tree, inner, what)
        if obj is not inner and keep_decorators and not getattr(node, "decorator_list", None):
            raise ValidationError(
                f"cannot capture {what}: it wraps {inner.__qualname__!r} by a call, not by decorator syntax, "
                f"so its definition cannot be repeated; use @decorator syntax or pass the plain function"
            )
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    first = node.decorator_list[0].lineno if keep_decorators and node.decorator_list else node.lineno
    source = _cut(linecache.getlines(filename), node, first)
    tree = _parse(source, what)
    if isinstance(inner, type):
        # A class made inside a function names its bases from that function's variables, which
        # no closure keeps; the class itself does.
        bases = {base.__name__: base for base in inner.__bases__ if base is not object}
        module = sys.modules.get(inner.__module__)
        namespace = vars(module) if module is not None else {}
        return _Source(node.name, source, tree, _class_freevars(inner), namespace, inner.__module__, bases)
    return _Source(node.name, source, tree, _freevars(inner), inner.__globals__, _module_name(inner))


def _module_name(func: types.FunctionType) -> str:
    return str(func.__globals__.get("__name__", func.__module__))


def _freevars(func: types.FunctionType) -> dict[str, types.CellType]:
    return dict(zip(func.__code__.co_freevars, func.__closure__ or (), strict=True))


def _class_freevars(cls: type) -> dict[str, types.CellType]:
    """Closure cells of a class's methods: a class defined in a function reads that function's variables."""
    cells: dict[str, types.CellType] = {}
    for attribute in vars(cls).values():
        for candidate in (attribute, getattr(attribute, "__func__", None), getattr(attribute, "fget", None)):
            if isinstance(candidate, types.FunctionType):
                cells.update(_freevars(candidate))
    cells.pop("__class__", None)  # the implicit cell behind super(): the class itself, recreated with it
    return cells


def _file_tree(obj: Any, what: str) -> tuple[str, ast.Module]:
    code = obj.__code__ if isinstance(obj, types.FunctionType) else None
    filename = code.co_filename if code is not None else _class_file(obj)
    lines = linecache.getlines(filename) if filename else []
    if not lines:
        raise ValidationError(
            f"cannot capture {what}: its source is not available (defined in {filename or 'memory'}); "
            f"define it in a file"
        )
    assert filename is not None
    return filename, _parse_file(filename, "".join(lines))


def _class_file(cls: type) -> str | None:
    module = sys.modules.get(cls.__module__)
    filename = getattr(module, "__file__", None)
    return filename if isinstance(filename, str) else None


@lru_cache(maxsize=64)
def _parse_file(filename: str, text: str) -> ast.Module:
    try:
        return ast.parse(text, filename)
    except SyntaxError as exc:
        raise ValidationError(f"cannot parse {filename}: {exc}") from None


def _find_function(tree: ast.Module, func: types.FunctionType, what: str) -> ast.AST:
    line = func.__code__.co_firstlineno
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == func.__code__.co_name:
            start = node.decorator_list[0].lineno if node.decorator_list else node.lineno
            if line in (start, node.lineno):
                return node
    raise ValidationError(f"cannot capture {what}: its definition was not found at line {line} of its file")


def _find_class(tree: ast.Module, cls: type, what: str) -> ast.ClassDef:
    first_line = getattr(cls, "__firstlineno__", None)
    matches = [
        node
        for qualname, node in _qualified_classes(tree, "")
        if qualname == cls.__qualname__ and (first_line is None or _start_line(node) == first_line)
    ]
    if not matches:
        raise ValidationError(f"cannot capture {what}: its definition was not found in its file")
    return matches[-1]  # a class defined twice: the later definition is the one that is bound


def _qualified_classes(node: ast.AST, prefix: str) -> Iterator[tuple[str, ast.ClassDef]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.ClassDef):
            yield prefix + child.name, child
            yield from _qualified_classes(child, f"{prefix}{child.name}.")
        elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield from _qualified_classes(child, f"{prefix}{child.name}.<locals>.")
        else:
            yield from _qualified_classes(child, prefix)


def _start_line(node: ast.ClassDef) -> int:
    return node.decorator_list[0].lineno if node.decorator_list else node.lineno


def _lambda_source(func: types.FunctionType, filename: str, tree: ast.Module, what: str) -> _Source:
    """A lambda as ``<name> = lambda ...``, named after the variable it is assigned to, if any."""
    code = func.__code__
    text = "".join(linecache.getlines(filename))
    candidates: list[tuple[ast.Lambda, str]] = []
    names: dict[int, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            names[id(node.value)] = node.targets[0].id
        if isinstance(node, ast.Lambda) and node.lineno == code.co_firstlineno:
            segment = ast.get_source_segment(text, node)
            if segment is not None and _same_code(segment, code):
                candidates.append((node, segment))
    if len({segment for _, segment in candidates}) != 1:
        raise ValidationError(
            f"cannot capture {what}: its source cannot be told apart from other lambdas on line "
            f"{code.co_firstlineno}; use a def"
            if candidates
            else f"cannot capture {what}: its source was not found; use a def"
        )
    node, segment = candidates[0]
    name = names.get(id(node), "lambda_function")
    body = f"({segment})" if "\n" in segment else segment
    source = f"{name} = {body}\n"
    return _Source(name, source, _parse(source, what), _freevars(func), func.__globals__, _module_name(func))


def _same_code(segment: str, code: types.CodeType) -> bool:
    try:
        compiled = compile(f"({segment})", "<lambda>", "eval", dont_inherit=True)
    except SyntaxError:
        return False
    inner = next((c for c in compiled.co_consts if isinstance(c, types.CodeType)), None)
    return inner is not None and _shape(inner) == _shape(code)


def _shape(code: types.CodeType) -> tuple[Any, ...]:
    """What a code object does, without where it was compiled (line numbers, file name)."""
    consts = tuple(_shape(c) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    return (code.co_code, code.co_names, code.co_varnames, code.co_freevars, consts)


def _cut(lines: Sequence[str], node: ast.AST, first_line: int) -> str:
    """The lines of ``node`` from ``first_line``, dedented to column 0.

    Lines that continue a multi-line string keep their text exactly: dedenting them would change
    the string's value, which textwrap.dedent does.
    """
    end_line = getattr(node, "end_lineno", None) or first_line
    chunk = list(lines[first_line - 1 : end_line])
    if chunk and not chunk[-1].endswith("\n"):
        chunk[-1] += "\n"
    indent = chunk[0][: len(chunk[0]) - len(chunk[0].lstrip())]
    in_string = _string_continuation_lines(chunk, first_line)
    out = []
    for number, line in enumerate(chunk, start=first_line):
        if number in in_string:
            out.append(line)
        elif line.startswith(indent):
            out.append(line[len(indent) :])
        else:
            out.append(line.lstrip() or "\n")  # a less indented comment or continuation line
    return "".join(out)


def _string_continuation_lines(chunk: Sequence[str], first_line: int) -> set[int]:
    """Numbers of the lines that start inside a string literal (the 2nd, 3rd... lines of a
    triple-quoted string), which dedenting must leave alone."""
    import io
    import tokenize

    lines: set[int] = set()
    fstring_starts: list[int] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO("".join(chunk)).readline):
            kind = tokenize.tok_name[token.type]
            if kind == "STRING" and token.end[0] > token.start[0]:
                lines.update(range(token.start[0] + 1, token.end[0] + 1))
            elif kind == "FSTRING_START":  # Python 3.12+: f-strings are several tokens
                fstring_starts.append(token.start[0])
            elif kind == "FSTRING_END" and fstring_starts:
                lines.update(range(fstring_starts.pop() + 1, token.end[0] + 1))
    except (tokenize.TokenError, SyntaxError):
        return set()  # the parse check after dedenting reports the problem
    return {number + first_line - 1 for number in lines}


def _parse(source: str, what: str) -> ast.Module:
    try:
        return ast.parse(source)
    except SyntaxError as exc:
        raise ValidationError(f"cannot capture {what}: its source does not parse alone ({exc})") from None


# -- names a source needs ---------------------------------------------------------------------------

_LOADS = frozenset({"LOAD_GLOBAL", "LOAD_NAME", "LOAD_FROM_DICT_OR_GLOBALS", "DELETE_GLOBAL"})
_ANNOTATIONS_FLAG = __future__.annotations.compiler_flag


def _global_names(source: str, what: str) -> list[str]:
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


def _imported_modules(tree: ast.Module) -> Iterator[str]:
    """Top-level names of the absolute imports anywhere in ``tree`` (function bodies too)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.partition(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module not in (None, "__future__"):
            assert node.module is not None
            yield node.module.partition(".")[0]


# -- imports --------------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _module_imports(module_name: str) -> Mapping[str, str]:
    """Names bound by the module's top-level import statements, each with a one-name import line."""
    module = sys.modules.get(module_name)
    filename = getattr(module, "__file__", None)
    if not isinstance(filename, str):
        return {}
    text = "".join(linecache.getlines(filename))
    try:
        tree = _parse_file(filename, text)
    except ValidationError:
        return {}
    package = getattr(module, "__package__", None) or ""
    bound: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    bound[alias.asname] = f"import {alias.name} as {alias.asname}"
                else:
                    bound[alias.name.partition(".")[0]] = f"import {alias.name}"
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            source = _absolute(node.module or "", node.level, package)
            if source is None:
                continue
            for alias in node.names:
                if alias.name == "*":
                    continue
                name = alias.asname or alias.name
                suffix = f" as {alias.asname}" if alias.asname and alias.asname != alias.name else ""
                bound[name] = f"from {source} import {alias.name}{suffix}"
    return bound


def _absolute(module: str, level: int, package: str) -> str | None:
    if level == 0:
        return module
    parts = package.split(".") if package else []
    if level - 1 > len(parts) or not parts:
        return None
    base = parts[: len(parts) - (level - 1)]
    return ".".join([*base, module] if module else base)


def _import_source(line: str) -> str:
    """The module an import line reads: ``from a.b import c`` -> ``a.b``, ``import a as b`` -> ``a``."""
    words = line.split()
    return words[1]


def _import_binds(line: str, name: str, value: Any) -> bool:
    """Whether executing ``line`` would bind ``name`` to ``value`` (checked without importing)."""
    words = line.split()
    if words[0] == "import":
        module = sys.modules.get(words[1])
        if len(words) == 4:  # import a.b as c
            return module is value
        return sys.modules.get(words[1].partition(".")[0]) is value
    module = sys.modules.get(words[1])
    attribute = words[3]
    if module is None:
        return False
    found = getattr(module, attribute, _MISSING)
    if found is _MISSING:
        found = sys.modules.get(f"{words[1]}.{attribute}", _MISSING)
    return found is value


def _object_import(name: str, value: Any) -> str | None:
    """``from <module> import <name>`` for an installed (not user-code) function, class or object."""
    module_name = getattr(value, "__module__", None)
    qualname = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
    if not isinstance(module_name, str) or not isinstance(qualname, str) or "." in qualname:
        return None
    if _is_user_module(module_name) or module_name in ("__main__", "builtins"):
        return None
    parts = module_name.split(".")
    for end in range(1, len(parts) + 1):  # the shortest public path: pandas, not pandas.core.frame
        candidate = ".".join(parts[:end])
        module = sys.modules.get(candidate)
        if module is not None and getattr(module, qualname, _MISSING) is value:
            suffix = f" as {name}" if name != qualname else ""
            return f"from {candidate} import {qualname}{suffix}"
    return None


def _import_sort_key(line: str) -> tuple[int, str]:
    return (0 if line.startswith("import ") else 1, line)


# -- constants ------------------------------------------------------------------------------------

_SCALARS = (type(None), bool, int, float, complex, str, bytes)


def _is_literal(value: Any, depth: int = 0) -> bool:
    """None, bools, numbers, strings, bytes, and tuples/lists/sets/dicts of those."""
    if depth > 50:
        return False
    kind = type(value)
    if kind in _SCALARS:
        return True
    if kind in (tuple, list, set, frozenset):
        return all(_is_literal(item, depth + 1) for item in value)
    if kind is dict:
        return all(_is_literal(k, depth + 1) and _is_literal(v, depth + 1) for k, v in value.items())
    return False


def _literal(value: Any) -> str:
    """Python source that evaluates to ``value`` (sets sorted by their text, so output is stable)."""
    kind = type(value)
    if kind is float and not math.isfinite(value):
        return f'float("{value}")'
    if kind is complex:
        return f"complex({_literal(value.real)}, {_literal(value.imag)})"
    if kind in _SCALARS:
        return repr(value)
    if kind is tuple:
        items = ", ".join(_literal(item) for item in value)
        return f"({items},)" if len(value) == 1 else f"({items})"
    if kind is list:
        return "[" + ", ".join(_literal(item) for item in value) + "]"
    if kind in (set, frozenset):
        texts = sorted(_literal(item) for item in value)
        inner = "{" + ", ".join(texts) + "}" if texts else ""
        return f"frozenset({inner})" if kind is frozenset else (inner or "set()")
    if kind is dict:
        return "{" + ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(kind)


def _rebuild(name: str, value: Any) -> tuple[str, str] | None:
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
    return None


# -- where code comes from ------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _is_user_module(module_name: str) -> bool:
    """True for the user's own code: ``__main__`` and modules outside the stdlib and installed packages."""
    top = module_name.partition(".")[0]
    if module_name == "__main__":
        return True
    if top == "ductwork" or top in sys.builtin_module_names or top in _stdlib_names():
        return False
    module = sys.modules.get(module_name) or sys.modules.get(top)
    filename = getattr(module, "__file__", None)
    if not isinstance(filename, str):
        return False
    import os

    # By place, not by distribution: a project installed in editable mode is still the user's code.
    path = os.path.realpath(filename)
    return not any(path.startswith(root) for root in _library_roots())


@lru_cache(maxsize=1)
def _library_roots() -> tuple[str, ...]:
    import os
    import site
    import sysconfig

    roots: set[str] = {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    roots.update(site.getsitepackages() if hasattr(site, "getsitepackages") else [])
    user_site = site.getusersitepackages()
    if isinstance(user_site, str):
        roots.add(user_site)
    return tuple(sorted(os.path.join(os.path.realpath(root), "") for root in roots if root))


@lru_cache(maxsize=1)
def _stdlib_names() -> frozenset[str]:
    names = getattr(sys, "stdlib_module_names", None)
    return frozenset(names) if names else frozenset()


@lru_cache(maxsize=1)
def _distributions() -> Mapping[str, list[str]]:
    import importlib.metadata

    return importlib.metadata.packages_distributions()


def _distributions_of(module: str) -> list[str]:
    """The installed distributions providing top-level module ``module``."""
    return _distributions().get(module) or _inferred_distributions().get(module, [])


@lru_cache(maxsize=1)
def _inferred_distributions() -> Mapping[str, list[str]]:
    """Top-level modules read from the distributions' file lists: Python 3.10's
    packages_distributions() only reads top_level.txt, which many wheels (numpy) do not have."""
    import importlib.metadata

    found: dict[str, dict[str, None]] = {}
    for dist in importlib.metadata.distributions():
        for path in dist.files or ():
            top = path.parts[0] if path.parts else ""
            if top.endswith(".py"):
                name = top[:-3]
            elif top.endswith((".so", ".pyd")):
                name = top.partition(".")[0]
            elif "." in top or top in ("", "__pycache__", ".."):
                continue
            else:
                name = top
            found.setdefault(name, {})[dist.metadata["Name"]] = None
    return {name: list(dists) for name, dists in found.items()}


def _requirements(modules: Mapping[str, None]) -> list[str]:
    import importlib.metadata

    lines: dict[str, str] = {}
    for module in modules:
        if _is_stdlib_or_ours(module) or _is_user_module(module):
            continue
        for dist in _distributions_of(module):
            if dist.lower() == "ductwork":
                continue
            try:
                lines[dist.lower()] = f"{dist}=={importlib.metadata.version(dist)}"
            except importlib.metadata.PackageNotFoundError:
                lines[dist.lower()] = dist
    return [lines[key] for key in sorted(lines)]


def _unresolved(modules: Mapping[str, None]) -> list[str]:
    return sorted(
        m for m in modules if not _is_stdlib_or_ours(m) and (_is_user_module(m) or not _distributions_of(m))
    )


_OURS = frozenset({"ductwork", "__main__"})


def _is_stdlib_or_ours(module: str) -> bool:
    return module in _stdlib_names() or module in sys.builtin_module_names or module in _OURS
