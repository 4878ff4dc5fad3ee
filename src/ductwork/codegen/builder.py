"""Assembling one generated module: definitions depth first (so each follows what it needs),
then imports, constants and aliases, with a check that no name means two things."""

from __future__ import annotations

import hashlib
import sys
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ductwork.codegen import cache
from ductwork.codegen.cache import Entry
from ductwork.codegen.captured import Captured
from ductwork.codegen.definitions import Source, describe, locate, unwrap, unwrap_quietly
from ductwork.codegen.names import (
    MISSING,
    Check,
    global_names,
    imported_modules,
    is_literal,
    literal_source,
    lookup,
    rebuild,
)
from ductwork.codegen.origins import (
    import_binds,
    import_sort_key,
    import_source,
    is_user_module,
    module_imports,
    object_import,
    requirement_lines,
    unresolved_modules,
)
from ductwork.core.errors import ValidationError


@dataclass
class _Piece:
    """One top-level definition of the generated module: a def, a class or a lambda assignment."""

    name: str
    source: str
    aliases: list[str] = field(default_factory=list)


class Builder:
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
        self.checks: list[Check] = []

    def build(
        self,
        func: Callable[..., Any],
        helpers: tuple[Callable[..., Any], ...],
        bindings: tuple[tuple[str, Callable[..., Any]], ...] = (),
    ) -> Entry:
        main = unwrap(func)
        for helper in helpers:
            if unwrap_quietly(helper) is not main:
                self._add_definition(helper, describe(helper), main=False)
        # The step runs its function as the user decorated it (ClearML applies such decorators
        # wherever the step runs): its definition keeps the decorators that wrapped it.
        piece = self._add_definition(main, describe(main), main=True, decorated=func)
        for name, value in bindings:
            self._add_binding(name, value)
        source = self._render()
        captured = Captured(
            source=source,
            name=piece.name,
            imports=sorted(self.imports, key=import_sort_key),
            requirements=requirement_lines(self.modules_used),
            digest=hashlib.sha256(source.encode()).hexdigest(),
            unresolved=unresolved_modules(self.modules_used),
        )
        return Entry.of(captured, self.checks)

    # -- definitions --

    def _add_definition(self, obj: Any, what: str, *, main: bool, decorated: Any = None) -> _Piece:
        """Capture a user function or class (and, first, what it needs); return its piece.
        `decorated`: the main function as given, when decorators wrap it."""
        existing = self.done.get(id(obj))
        if existing is not None:
            return existing  # done, or in progress: a definition that (indirectly) needs itself
        if main and decorated is not None and decorated is not obj:
            found = locate(decorated, what, keep_decorators=True, applied_only=True)
        else:
            found = locate(obj, what, keep_decorators=not main)
        if "__class__" in found.freevars:
            raise ValidationError(f"cannot capture {what}: it uses super() or __class__, which need a class")
        piece = _Piece(found.name, found.source)
        self.done[id(obj)] = piece
        self.keep_alive.append(obj)
        if main:
            self.main = obj
        self._bind(found.name, ("object", id(obj)), what)
        for name in global_names(found.source, what):
            self._add_global(name, found, what)
        self.pieces.append(piece)  # after everything it needs, so classes follow their bases
        for module in imported_modules(found.tree):
            self.modules_used.setdefault(module)
        return piece

    def _add_binding(self, name: str, value: Callable[..., Any]) -> None:
        """Make the module bind ``name`` to ``value`` (a pipeline's artifact functions): the
        definition and an alias for user code, an import for installed code."""
        who = f"{name} ({describe(value)})"
        if not callable(value):
            raise ValidationError(f"cannot capture {who}: it is not callable")
        try:
            self._emit(name, value, str(getattr(value, "__module__", "") or ""), who)
        except ValidationError as exc:
            raise ValidationError(f"{name}: {exc}; a step process needs it as code") from None
        self._bind(name, ("object", id(value)), who)
        self.keep_alive.append(value)

    def _alias(self, piece: _Piece, name: str) -> None:
        line = f"{name} = {piece.name}"
        if name != piece.name and line not in piece.aliases:
            piece.aliases.append(line)

    def _add_global(self, name: str, found: Source, what: str) -> None:
        """Make ``name`` (read by ``found``'s source) mean in the generated module what it meant there."""
        if name.startswith("__") and name.endswith("__"):
            return  # the generated module has its own __name__, __file__, ...
        value, check = lookup(name, found, what)
        if value is MISSING:
            return  # a builtin, or undefined: the generated code behaves as the original would
        kind = "closure variable" if check.cell is not None else "global"
        who = f"{what} uses {kind} {name!r}"
        if self.main is not None and unwrap_quietly(value) is self.main:
            value = self.main  # the captured function itself (say, called recursively): no decorators
            self._alias(self.done[id(value)], name)
            text = None
        else:
            text = self._emit(name, value, found.module, who)
        if text is not None and _changes_in_place(value):
            import copy

            # a list (or a dataclass) can change in place: remember what it held, to notice
            check = Check(check.namespace, name, check.cell, value, text, copy.deepcopy(value))
        self.checks.append(check)
        self.keep_alive.append(value)
        self._bind(name, ("literal", text) if is_literal(value) else ("object", id(value)), who)

    def _emit(self, name: str, value: Any, module_name: str, who: str) -> str | None:
        """Emit what binds ``name`` to ``value`` (as seen from ``module_name``). Returns the text of
        the value when it is written out as a constant (which may be mutable), else None."""
        if isinstance(value, types.ModuleType):
            self._add_import(self._module_import(name, value, module_name, who))
            return None
        source_object = _user_definition(value)
        if source_object is not None:
            made = _namedtuple_call(source_object)
            if made is not None and not _has_class_statement(source_object):
                self._add_import("import collections")
                self._bind("collections", ("object", id(sys.modules["collections"])), who)
                self._late(name, f"{name} = {made}\n")
                return None
            self._alias(self._add_definition(source_object, describe(source_object), main=False), name)
            return None
        line = None if self.skip_global_imports else module_imports(module_name).get(name)
        if line and import_binds(line, name, value) and not is_user_module(import_source(line)):
            self._add_import(line)
            return None
        line = object_import(name, value)
        if line is not None:
            self._add_import(line)
            return None
        if is_literal(value):
            literal = literal_source(value)
            self._add_constant(f"{name} = {literal}")
            return literal
        rebuilt = rebuild(name, value)
        if rebuilt is not None:
            import_line, text = rebuilt
            self._add_import(import_line)
            self._add_constant(text)
            return text
        expression = self._construction(value, module_name, who)
        if expression is not None:
            self._late(name, f"{name} = {expression}\n")
            return expression
        raise ValidationError(
            f"cannot capture {who}: it is a {type(value).__module__}.{type(value).__qualname__} "
            f"object, which is not a module, a function, a class or a constant that can be written "
            f"out; create it inside the function, or pass it in as an argument"
        )

    def _late(self, name: str, line: str) -> None:
        """An assignment placed after the definitions so far, which include those it uses."""
        if all(piece.source != line for piece in self.pieces):
            self.pieces.append(_Piece(name, line))

    def _construction(self, value: Any, module_name: str, who: str) -> str | None:
        """An expression that builds ``value`` from its class or function, captured or imported:
        an enum member, a dataclass or named tuple of constants, a functools.partial of a function
        with constant arguments."""
        import dataclasses
        import enum
        import functools

        if isinstance(value, enum.Enum):
            cls_name = self._need(type(value), module_name, who)
            return f"{cls_name}.{value.name}" if cls_name else None
        if type(value) is functools.partial:
            arguments = [*value.args, *value.keywords.values()]
            if not all(is_literal(argument) for argument in arguments):
                return None
            function_name = self._need(value.func, module_name, who)
            if function_name is None:
                return None
            self._add_import("import functools")
            parts = [function_name, *(literal_source(a) for a in value.args)]
            parts += [f"{k}={literal_source(v)}" for k, v in value.keywords.items()]
            return f"functools.partial({', '.join(parts)})"
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value) if f.init}
        elif isinstance(value, tuple) and hasattr(type(value), "_fields"):
            named_tuple: Any = type(value)
            fields = dict(zip(named_tuple._fields, value, strict=True))
        else:
            return None
        if not all(is_literal(field) for field in fields.values()):
            return None
        cls_name = self._need(type(value), module_name, who)
        if cls_name is None:
            return None
        return f"{cls_name}({', '.join(f'{k}={literal_source(v)}' for k, v in fields.items())})"

    def _need(self, obj: Any, module_name: str, who: str) -> str | None:
        """Make a class or function available under its own name; return that name, or None
        when no single name reaches it (a class nested in another class)."""
        obj_name = getattr(obj, "__name__", None)
        qualname = getattr(obj, "__qualname__", obj_name)
        if not isinstance(obj_name, str) or not isinstance(qualname, str):
            return None
        if qualname != obj_name and not qualname.endswith(f"<locals>.{obj_name}"):
            return None
        self._emit(obj_name, obj, module_name, who)
        self._bind(obj_name, ("object", id(obj)), who)
        self.keep_alive.append(obj)
        return obj_name

    def _add_constant(self, line: str) -> None:
        if line not in self.constants:
            self.constants.append(line)

    def _module_import(self, name: str, module: types.ModuleType, owner_module: str, who: str) -> str:
        if module.__name__ == "__main__":
            raise ValidationError(f"cannot capture {who}: it is the __main__ module, which has no import")
        if not self.skip_global_imports:
            line = module_imports(owner_module).get(name)
            if line is not None and import_binds(line, name, module):
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
        self.modules_used.setdefault(import_source(line).partition(".")[0])

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
        imports = sorted(self.imports, key=import_sort_key)
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


def _namedtuple_call(cls: Any) -> str | None:
    """``collections.namedtuple(...)`` that makes ``cls`` again, if it was made by that call."""
    if not (isinstance(cls, type) and cls.__bases__ == (tuple,) and hasattr(cls, "_fields")):
        return None
    fields: tuple[str, ...] = cls._fields
    defaults: dict[str, Any] = getattr(cls, "_field_defaults", {})
    if not all(is_literal(v) for v in defaults.values()):
        return None
    extra = f", defaults={literal_source(tuple(defaults.values()))}" if defaults else ""
    return f"collections.namedtuple({cls.__name__!r}, {literal_source(list(fields))}{extra})"


def _has_class_statement(cls: type) -> bool:
    try:
        locate(cls, describe(cls), keep_decorators=True)
    except ValidationError:
        return False
    return True


def _changes_in_place(value: Any) -> bool:
    """Whether a value written out as a constant can change without being rebound."""
    import dataclasses

    if isinstance(value, (list, dict, set)):
        return True
    if isinstance(value, tuple):
        return any(_changes_in_place(item) for item in value)
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def _user_definition(value: Any) -> Any:
    """The function or class whose source defines ``value``, if ``value`` comes from user code."""
    if isinstance(value, type):
        return value if is_user_module(value.__module__) else None
    if not callable(value) or isinstance(value, types.BuiltinFunctionType):
        return None
    module = getattr(value, "__module__", None)
    if not isinstance(module, str) or not is_user_module(module):
        return None
    if isinstance(value, types.FunctionType):
        return value
    if getattr(value, "__wrapped__", None) is not None:
        return value  # a decorated user function: locate finds the decorated definition
    return None


def capture_cached(
    func: Callable[..., Any],
    helpers: tuple[Callable[..., Any], ...],
    skip_imports: bool,
    bindings: tuple[tuple[str, Callable[..., Any]], ...] = (),
) -> Captured:
    """``capture``'s work: the cached result while its facts hold, else a new build."""
    key = (helpers, skip_imports, bindings)
    entry = cache.cached(func, key)
    if entry is None:
        entry = Builder(skip_imports).build(func, helpers, bindings)
        cache.remember(func, key, entry)
    return entry.captured
