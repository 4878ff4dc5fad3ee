"""Where a function or class is defined, and its definition cut out as top-level source.

Decorated functions are unwrapped to the function the user wrote; its definition is found in its
file's syntax tree (by first line and name; classes by qualified name) and dedented, leaving the
lines that continue a multi-line string exactly as they are.
"""

from __future__ import annotations

import ast
import linecache
import sys
import types
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ductwork.core import syntax
from ductwork.core.errors import ValidationError


def unwrap(func: Any) -> Any:
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


def unwrap_quietly(value: Any) -> Any:
    try:
        return unwrap(value)
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


def describe(obj: Any) -> str:
    kind = "class" if isinstance(obj, type) else "function"
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", repr(obj))
    return f"{kind} {name!r} (module {getattr(obj, '__module__', '?')})"


@dataclass(frozen=True)
class Source:
    """A definition's standalone source text, the name it binds and its closure cells."""

    name: str
    source: str
    tree: ast.Module
    freevars: Mapping[str, types.CellType]
    namespace: Mapping[str, Any]  # the globals of the module it was defined in
    module: str  # that module's name
    known: Mapping[str, Any] = field(default_factory=dict)  # values found another way (class bases)


def locate(obj: Any, what: str, *, keep_decorators: bool, applied_only: bool = False) -> Source:
    """Find ``obj``'s definition in its file and cut it out as top-level source.

    With ``applied_only`` (a step's own function), the decorators kept are those that made ``obj``:
    the ones under a pipeline decorator (``@PipelineDecorator.component``), which ductwork applies
    itself and which were not applied yet when ``obj`` was handed to it."""
    inner = obj if isinstance(obj, type) else unwrap_quietly(obj)
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
    decorators = node.decorator_list if keep_decorators else []
    if applied_only and not isinstance(inner, type):
        decorators = _applied_decorators(decorators, inner, what)
    first = decorators[0].lineno if decorators else node.lineno
    source = _cut(linecache.getlines(filename), node, first)
    tree = _parse(source, what)
    if isinstance(inner, type):
        # A class made inside a function names its bases from that function's variables, which
        # no closure keeps; the class itself does.
        bases = {base.__name__: base for base in inner.__bases__ if base is not object}
        module = sys.modules.get(inner.__module__)
        namespace = vars(module) if module is not None else {}
        return Source(node.name, source, tree, _class_freevars(inner), namespace, inner.__module__, bases)
    return Source(node.name, source, tree, _freevars(inner), inner.__globals__, _module_name(inner))


def _applied_decorators(decorators: list[ast.expr], inner: types.FunctionType, what: str) -> list[ast.expr]:
    """The decorators under the last pipeline decorator: those a step's function already went
    through. A function wrapped by a call has none to repeat: it cannot be captured as it runs."""
    below = list(decorators)
    for index, decorator in enumerate(decorators):
        if _is_pipeline_decorator(decorator, {**inner.__globals__, **_cell_values(inner)}):
            below = list(decorators[index + 1 :])
    if not below:
        raise ValidationError(
            f"cannot capture {what}: it wraps {inner.__qualname__!r} by a call, not by decorator syntax, "
            f"so its decorators cannot be repeated where the step runs; use @decorator syntax"
        )
    return below


def _is_pipeline_decorator(expression: ast.expr, namespace: Mapping[str, Any]) -> bool:
    """Whether a decorator expression names one of ductwork's pipeline decorators."""
    if isinstance(expression, ast.Call):
        expression = expression.func
    attributes: list[str] = []
    while isinstance(expression, ast.Attribute):
        attributes.append(expression.attr)
        expression = expression.value
    if not isinstance(expression, ast.Name):
        return False
    value = namespace.get(expression.id)
    for attribute in reversed(attributes):
        value = getattr(value, attribute, None)
    return str(getattr(value, "__module__", "") or "").startswith("ductwork.pipelines.")


def _cell_values(func: types.FunctionType) -> dict[str, Any]:
    values = {}
    for name, cell in _freevars(func).items():
        try:
            values[name] = cell.cell_contents
        except ValueError:  # a cell not filled yet
            continue
    return values


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
    return filename, parse_file(filename, "".join(lines))


def _class_file(cls: type) -> str | None:
    module = sys.modules.get(cls.__module__)
    filename = getattr(module, "__file__", None)
    return filename if isinstance(filename, str) else None


@lru_cache(maxsize=64)
def parse_file(filename: str, text: str) -> ast.Module:
    try:
        return syntax.parse(text, filename)
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


def _lambda_source(func: types.FunctionType, filename: str, tree: ast.Module, what: str) -> Source:
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
    return Source(name, source, _parse(source, what), _freevars(func), func.__globals__, _module_name(func))


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
    text = "".join(chunk)
    if '"""' not in text and "'''" not in text and "\\\n" not in text:
        return set()  # only a triple-quoted string or a backslash-newline continues a line
    import io
    import tokenize

    lines: set[int] = set()
    fstring_starts: list[int] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
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
        return syntax.parse(source)
    except SyntaxError as exc:
        raise ValidationError(f"cannot capture {what}: its source does not parse alone ({exc})") from None
