"""Local mode's fork server starts before the run needs it, with what the script's steps import.

`PipelineDecorator.run_locally()` starts it (`warming.warm_up`) and the run's
`ProcessExecutor` takes that one over; the installed packages the user's script imports are
preloaded into it in the background; an entry point that is an installed program (pytest, a
CLI) is not scanned.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ductwork.pipelines import executors, warming


@pytest.fixture(autouse=True)
def no_early_pool() -> Iterator[None]:
    warming._close_early()
    warming._early = None
    yield
    warming._close_early()
    warming._early = None


class RecordingPool:
    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    def preload(self, modules: list[str]) -> list[str]:
        self.asked.append(list(modules))
        return list(modules)


def test_a_scripts_installed_imports_are_preloaded_its_own_modules_are_not(tmp_path: Path) -> None:
    (tmp_path / "helpers.py").write_text("X = 1\n")
    script = tmp_path / "pipeline.py"
    script.write_text(
        "import json\nimport helpers\nfrom ductwork import PipelineDecorator\nimport numpy as np\n\n"
        "def step(x):\n    import pytest\n    return x\n"
    )
    pool = RecordingPool()
    sys.path.insert(0, str(tmp_path))
    try:
        warming._preload_script(pool, str(script))  # type: ignore[arg-type]
    finally:
        sys.path.remove(str(tmp_path))
    assert pool.asked == [["numpy", "pytest"]]  # not the stdlib, ductwork or the user's helpers


def test_an_unreadable_or_import_free_script_asks_for_nothing(tmp_path: Path) -> None:
    pool = RecordingPool()
    warming._preload_script(pool, str(tmp_path / "gone.py"))  # type: ignore[arg-type]
    (tmp_path / "plain.py").write_text("print('hi')\n")
    warming._preload_script(pool, str(tmp_path / "plain.py"))  # type: ignore[arg-type]
    (tmp_path / "odd.py").write_text("import numpy\x00\n")  # not Python: no traceback, nothing asked
    warming._preload_script(pool, str(tmp_path / "odd.py"))  # type: ignore[arg-type]
    assert pool.asked == []


def test_only_a_users_script_is_scanned() -> None:
    assert warming._is_user_script("/home/me/pipeline.py")
    assert not warming._is_user_script(pytest.__file__.replace("__init__", "__main__"))
    assert not warming._is_user_script(None)
    assert not warming._is_user_script("/usr/bin/ductwork")


def test_the_run_takes_over_the_server_warm_up_started(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DUCTWORK_LOCAL_SPAWN", raising=False)
    warming.warm_up()
    early = warming._early
    assert early is not None
    warming.warm_up()  # once
    assert warming._early is early
    backend: Any = object()
    executor = executors.ProcessExecutor(backend, "unused", pythonpath=[])
    try:
        assert executor._warm is early and warming._early is None
    finally:
        executor.close()


def test_fresh_spawning_starts_no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUCTWORK_LOCAL_SPAWN", "fresh")
    warming.warm_up()
    assert warming._early is None
    backend: Any = object()
    executor = executors.ProcessExecutor(backend, "unused", pythonpath=[])
    assert executor._warm is None
    executor.close()
