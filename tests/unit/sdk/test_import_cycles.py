"""scripts/import_cycles.py finds import circles (also those closed inside a function or under
TYPE_CHECKING), and the Task API has none."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "import_cycles.py"


def _checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("import_cycles", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _package(root: Path, name: str, modules: dict[str, str]) -> None:
    folder = root / name
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    for module, code in modules.items():
        (folder / f"{module}.py").write_text(textwrap.dedent(code))


def test_a_circle_closed_lazily_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _package(
        tmp_path,
        "circled",
        {
            "core": "from circled import parts\n",
            "parts": """
                from typing import TYPE_CHECKING
                if TYPE_CHECKING:
                    from circled.facade import Facade
                def use():
                    from circled import core
            """,
            "facade": "from circled import parts\n",
            "leaf": "from circled import core\n",
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)  # grimp's cache goes beside the package, not into the project

    assert _checker().main(["circled"]) == 1
    out = capsys.readouterr().out
    assert "cycle among 3 modules" in out
    assert "circled.parts:6" in out  # the import inside the function, by line
    assert "circled.leaf" not in out  # it imports into the circle but is not on it
    assert out.rstrip().endswith("1 import cycle(s) (3 modules) in circled")


def test_a_dag_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _package(
        tmp_path,
        "layered",
        {"core": "", "parts": "from layered import core\n", "top": "import layered.parts\n"},
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert _checker().main(["layered"]) == 0


def test_the_task_api_has_no_import_cycle(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    checker = _checker()
    modules = [
        "task", "taskcore", "current", "logger", "model", "artifact", "hyperparams", "catalog", "drafts",
        "connected", "starting", "ending", "lifecycle", "fields", "metrics", "uploads", "capture",
    ]  # fmt: skip
    _, edges = checker.import_graph([f"ductwork.sdk.{name}" for name in modules])
    assert "ductwork.sdk.capture.console" in edges  # the packages were read
    assert checker.strongly_connected(edges) == []
