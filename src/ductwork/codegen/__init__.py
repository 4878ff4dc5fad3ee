"""Code capture: turn a step function into a standalone, readable Python module.

``capture(func)`` finds the function's own source (without its decorators, dedented when it was
defined inside another function) and everything the source needs to run somewhere else: the
user-module functions and classes it calls (their source, transitively), the constants it reads
(as assignments), the modules and installed objects it uses (as imports) and the pip requirements
behind those imports. The result is what a step task stores, what the UI shows and what the cache
key hashes, so it must be the same text every time the same code is captured.

The parts: ``definitions`` finds a definition's source, ``names`` says what the names it reads
mean, ``origins`` tells user code from installed code and writes imports and requirements,
``builder`` assembles the module, ``cache`` remembers results per function object, and
``captured`` holds the result and runs it. Nothing here imports anything heavy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ductwork.codegen.captured import Captured, load

__all__ = ["Captured", "capture", "load"]


def capture(
    func: Callable[..., Any],
    *,
    helper_functions: Sequence[Callable[..., Any]] = (),
    skip_global_imports: bool = False,
    bindings: Sequence[tuple[str, Callable[..., Any]]] = (),
) -> Captured:
    """Capture ``func`` (and ``helper_functions``) as a standalone module; see the module doc.

    Decorators stacked on ``func`` are unwrapped to the innermost user function and left out of
    its source. With ``skip_global_imports``, import lines are derived from the imported objects
    themselves instead of copied from the module's own import statements. ``bindings`` are
    further names the module must define, each bound to a function (captured like any function
    the step calls): how a pipeline's artifact (de)serialization functions travel with a step.
    Raises ValidationError naming the function and the global it cannot capture.
    """
    implementation = _implementation or _load_implementation()
    return implementation(func, tuple(helper_functions), bool(skip_global_imports), tuple(bindings))


_Implementation = Callable[
    [Callable[..., Any], tuple[Callable[..., Any], ...], bool, tuple[tuple[str, Callable[..., Any]], ...]],
    Captured,
]
_implementation: _Implementation | None = None


def _load_implementation() -> _Implementation:
    # Imported on first use: a step process only needs `load`, not ast, dis and the rest.
    global _implementation
    from ductwork.codegen.builder import capture_cached

    _implementation = capture_cached
    return capture_cached
