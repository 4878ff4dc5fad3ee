"""Where code comes from: the user's own modules, the standard library or installed
distributions; import lines for what is imported, and the pip requirements behind them."""

from __future__ import annotations

import ast
import linecache
import sys
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from ductwork.codegen.definitions import parse_file
from ductwork.codegen.names import MISSING
from ductwork.core.errors import ValidationError


@lru_cache(maxsize=256)
def module_imports(module_name: str) -> Mapping[str, str]:
    """Names bound by the module's top-level import statements, each with a one-name import line."""
    module = sys.modules.get(module_name)
    filename = getattr(module, "__file__", None)
    if not isinstance(filename, str):
        return {}
    text = "".join(linecache.getlines(filename))
    try:
        tree = parse_file(filename, text)
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


def import_source(line: str) -> str:
    """The module an import line reads: ``from a.b import c`` -> ``a.b``, ``import a as b`` -> ``a``."""
    words = line.split()
    return words[1]


def import_binds(line: str, name: str, value: Any) -> bool:
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
    found = getattr(module, attribute, MISSING)
    if found is MISSING:
        found = sys.modules.get(f"{words[1]}.{attribute}", MISSING)
    return found is value


def object_import(name: str, value: Any) -> str | None:
    """``from <module> import <name>`` for an installed (not user-code) function, class or object."""
    module_name = getattr(value, "__module__", None)
    qualname = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
    if not isinstance(module_name, str) or not isinstance(qualname, str) or "." in qualname:
        return None
    if is_user_module(module_name) or module_name in ("__main__", "builtins"):
        return None
    parts = module_name.split(".")
    for end in range(1, len(parts) + 1):  # the shortest public path: pandas, not pandas.core.frame
        candidate = ".".join(parts[:end])
        module = sys.modules.get(candidate)
        if module is not None and getattr(module, qualname, MISSING) is value:
            suffix = f" as {name}" if name != qualname else ""
            return f"from {candidate} import {qualname}{suffix}"
    return None


def import_sort_key(line: str) -> tuple[int, str]:
    return (0 if line.startswith("import ") else 1, line)


@lru_cache(maxsize=4096)
def is_user_module(module_name: str) -> bool:
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
    if not _findable(module):  # not here at all (a module of a step's repo=): none, without a scan
        return []
    return (
        _same_name_distribution(module)
        or _distributions().get(module)
        or _inferred_distributions().get(module, [])
    )


def _findable(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return True  # unsure: let the distributions answer


@lru_cache(maxsize=512)
def _same_name_distribution(module: str) -> list[str]:
    """The fast path (~1 ms instead of a ~90 ms scan of every installed distribution): most
    modules come from a distribution of the same name (numpy, pandas, torch)."""
    import importlib.metadata

    try:
        dist = importlib.metadata.distribution(module)
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return []
    top_level = dist.read_text("top_level.txt")
    if top_level is not None:
        provides = module in top_level.split()
    else:
        provides = any(p.parts and p.parts[0] in (module, f"{module}.py") for p in dist.files or ())
    return [str(dist.metadata["Name"])] if provides else []


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


def requirement_lines(modules: Mapping[str, None]) -> list[str]:
    lines: dict[str, str] = {}
    for module in modules:
        if _is_stdlib_or_ours(module) or is_user_module(module):
            continue
        for dist in _distributions_of(module):
            if dist.lower() != "ductwork":
                lines[dist.lower()] = _pinned(dist)
    return [lines[key] for key in sorted(lines)]


def _pinned(dist: str) -> str:
    # importlib.metadata (and the email, csv and zipfile modules it loads) only when a step
    # really uses an installed package: a step on the standard library alone never needs it.
    import importlib.metadata

    try:
        return f"{dist}=={importlib.metadata.version(dist)}"
    except importlib.metadata.PackageNotFoundError:
        return dist


def unresolved_modules(modules: Mapping[str, None]) -> list[str]:
    return sorted(
        m for m in modules if not _is_stdlib_or_ours(m) and (is_user_module(m) or not _distributions_of(m))
    )


_OURS = frozenset({"ductwork", "__main__"})


def _is_stdlib_or_ours(module: str) -> bool:
    return module in _stdlib_names() or module in sys.builtin_module_names or module in _OURS
