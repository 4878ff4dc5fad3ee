"""Fixtures of the Task / Logger / Model SDK tests.

`sdk_home`: an isolated `$DUCTWORK_HOME` with the embedded store; afterwards the process's main
task is closed and forgotten and the console proxy removed, so tests do not leak into each other.
`run_script`: runs a Python script in a fresh interpreter against the same home.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[3] / "src"


@pytest.fixture
def sdk_home(ductwork_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from ductwork.sdk import current
    from ductwork.sdk.capture import arguments, console

    monkeypatch.delenv("DUCTWORK_CONSOLE_CAPTURED", raising=False)
    arguments.forget_parsed()
    yield ductwork_home
    arguments.forget_parsed()

    main = current.main_task()
    if main is not None and not main._closed:
        try:
            main.close()
        except Exception:
            pass
    current.set_main(None)
    console.uninstall()


@pytest.fixture
def run_script(sdk_home: Path, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Write `code` to a script and run it; returns the finished process (output captured)."""

    def run(
        code: str, *args: str, env: dict[str, str] | None = None, name: str = "script.py"
    ) -> subprocess.CompletedProcess[str]:
        script = tmp_path / name
        script.write_text(textwrap.dedent(code))
        environment = {**os.environ, "DUCTWORK_HOME": str(sdk_home), **(env or {})}
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), environment.get("PYTHONPATH")]))
        return subprocess.run(
            [sys.executable, str(script), *args],
            capture_output=True,
            text=True,
            env=environment,
            cwd=tmp_path,
            timeout=120,
        )

    return run
