"""Fixtures of the scheduler tests: a home of the test's own, and the scheduler's task (the
main task of this process while a scheduler is in it) closed after."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def home(ductwork_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from ductwork.sdk import current
    from ductwork.sdk.capture import arguments, console

    monkeypatch.delenv("DUCTWORK_CONSOLE_CAPTURED", raising=False)
    arguments.forget_parsed()
    yield ductwork_home
    arguments.forget_parsed()
    main = current.main_task()
    if main is not None and not main._closed:
        main.close()
    current.set_main(None)
    console.uninstall()


def run_for(service: Any, seconds: float) -> None:
    """Run a scheduler's loop on a thread for `seconds` of real time, then stop it."""
    thread = threading.Thread(target=service.start, daemon=True)
    thread.start()
    time.sleep(seconds)
    service.stop()
    thread.join(10)
    assert not thread.is_alive()


def wait_for(check: Any, seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"not reached within {seconds}s: {check}")
