"""The same Backend tests on both transports: the embedded `Store` and `HttpBackend` to a server.

The store's own integration tests (tests/integration/store) are collected here and re-run
through `HttpBackend` against a live server over the same database: every test whose only
fixture is `store` and which calls nothing but Backend contract methods. What passes on the
embedded store must pass over HTTP, with the same results and the same exceptions.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ductwork.client.contract import Backend

STORE_TESTS = Path(__file__).resolve().parents[1] / "store"
CONTRACT = {name for name in dir(Backend) if not name.startswith("_")}


def _contract_tests() -> list[Any]:
    found = []
    for path in sorted(STORE_TESTS.glob("test_*.py")):
        spec = importlib.util.spec_from_file_location(f"_contract_{path.stem}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for name, function in sorted(vars(module).items()):
            if not name.startswith("test_") or not callable(function):
                continue
            if list(inspect.signature(function).parameters) != ["store"]:
                continue
            used = set(re.findall(r"\bstore\.(\w+)", inspect.getsource(function)))
            if used and used <= CONTRACT:
                found.append(pytest.param(function, id=f"{path.stem}::{name}"))
    return found


CASES = _contract_tests()


def test_store_suite_was_found() -> None:
    assert len(CASES) >= 20, f"only {len(CASES)} store tests use the contract alone"


@pytest.mark.parametrize("case", CASES)
def test_store_suite_over_http(case: Callable[[Any], None], live_server: Any) -> None:
    """One of the store's own tests, with `HttpBackend` standing in for the store."""
    from ductwork.client.http import HttpBackend

    http = HttpBackend(live_server.url, live_server.key)
    try:
        case(http)
    finally:
        http.close()
