"""`capture.hooks.on_import`: a callback waits for its module once, however often it is asked
for (each debug step turns framework capture on again), and fires once when it is imported."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import pytest

from ductwork.sdk.capture import hooks


def test_a_callback_asked_for_many_times_waits_and_fires_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ductwork_hook_probe.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    fired: list[str] = []

    def seen(module: ModuleType) -> None:
        fired.append(module.__name__)

    for _ in range(1000):
        hooks.on_import("ductwork_hook_probe", seen)
    assert len(hooks._waiting["ductwork_hook_probe"]) == 1  # not one per request
    import ductwork_hook_probe  # noqa: F401

    assert fired == ["ductwork_hook_probe"]
    hooks.on_import("ductwork_hook_probe", seen)  # already imported: at once
    assert fired == ["ductwork_hook_probe"] * 2
    sys.modules.pop("ductwork_hook_probe", None)
