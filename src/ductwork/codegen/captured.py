"""The result of a capture, and how to run it."""

from __future__ import annotations

import linecache
import sys
import types
from dataclasses import dataclass, field


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
