#!/usr/bin/env python3
"""Check the code's shape: no module over 500 lines, no function over 60; exit 1 if one is.

    python3 scripts/code_shape.py [src]

A newcomer reads a module in one sitting and a function on one screen; past these sizes a
file holds more than one idea. Lines are counted as they stand in the file (docstrings and
comments included: they are read too). Prints the largest of each, then every offender.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

MODULE_LINES = 500
FUNCTION_LINES = 60


def functions(tree: ast.AST) -> list[tuple[int, int, str]]:
    """(lines, first line, qualified name) of every function and method in `tree`."""
    found: list[tuple[int, int, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = f"{prefix}{child.name}"
                found.append(((child.end_lineno or child.lineno) - child.lineno + 1, child.lineno, name))
                visit(child, name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else "src")
    offenders: list[str] = []
    modules: list[tuple[int, str]] = []
    defs: list[tuple[int, str]] = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        modules.append((lines, str(path)))
        if lines > MODULE_LINES:
            offenders.append(f"{path}: {lines} lines (most {MODULE_LINES})")
        for length, line, name in functions(ast.parse(text, str(path))):
            defs.append((length, f"{path}:{line} {name}"))
            if length > FUNCTION_LINES:
                offenders.append(f"{path}:{line}: {name} is {length} lines (most {FUNCTION_LINES})")
    if modules:
        print(f"largest module: {max(modules)[1]} ({max(modules)[0]} lines)")
    if defs:
        print(f"longest function: {max(defs)[1]} ({max(defs)[0]} lines)")
    for offender in offenders:
        print(offender)
    print(f"{len(offenders)} over the limits in {len(modules)} modules")
    return 1 if offenders else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
