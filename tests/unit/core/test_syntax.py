"""`core.syntax.parse`: threads may parse at once (CPython 3.11's AST constructor may not)."""

from __future__ import annotations

import ast
import sys
import threading
from collections.abc import Iterator

import pytest

from ductwork.core import syntax

SOURCE = "\n".join(f"def f{i}(x):\n    return [y for y in range(x) if y % {i + 1}]" for i in range(200))


class Garbage:
    """A cycle with a finalizer: collecting it runs Python code, where threads switch."""

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        sum(range(200))


@pytest.fixture
def eager_switching() -> Iterator[None]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def test_parse_gives_the_same_tree_as_ast_parse() -> None:
    assert ast.dump(syntax.parse(SOURCE, "m.py")) == ast.dump(ast.parse(SOURCE, "m.py"))


@pytest.mark.usefixtures("eager_switching")
def test_parse_from_many_threads_at_once() -> None:
    # With `ast.parse` in place of `syntax.parse` this fails on CPython 3.11 ("AST constructor
    # recursion depth mismatch"): a collection inside one thread's tree building lets another in.
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(30):
                for _ in range(200):
                    Garbage()
                assert len(syntax.parse(SOURCE).body) == 200
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
