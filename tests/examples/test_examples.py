"""Every example runs, in debug and local mode, and leaves the run it promises in the store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(script: str, mode: str, home: Path) -> str:
    env = {**os.environ, "DUCTWORK_HOME": str(home)}
    for name in ("DUCTWORK_DB_URL", "DUCTWORK_API_URL", "DUCTWORK_PIPE", "DUCTWORK_TASK_ID"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), mode], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def runs(home: Path):  # type: ignore[no-untyped-def]
    from ductwork.client.embedded import open_embedded
    from ductwork.core.queries import TaskQuery

    store = open_embedded(f"sqlite:///{home / 'ductwork.db'}")
    return store, store.query_tasks(TaskQuery(type=["controller"]))


@pytest.mark.parametrize("mode", ["debug", "local"])
def test_decorator_pipeline(mode: str, ductwork_home: Path) -> None:
    out = run("decorator_pipeline.py", mode, ductwork_home)
    assert "best ridge 0.01" in out
    store, found = runs(ductwork_home)
    assert [r.status for r in found] == ["completed"]
    names = sorted({s.name for s in store.query_tasks(_children(found[0].id))})
    assert names == ["make_data", "pick_best", "train", "train_1", "train_2"]
    assert "best_model" in {a.name for a in store.get_artifacts(found[0].id)}


@pytest.mark.parametrize("mode", ["debug", "local"])
def test_function_pipeline(mode: str, ductwork_home: Path) -> None:
    assert "succeeded" in run("function_pipeline.py", mode, ductwork_home)
    store, found = runs(ductwork_home)
    nodes = {n.name: n.status for n in store.get_nodes(found[0].id)}
    assert nodes == dict.fromkeys(["load", "clean", "mean", "spread", "report"], "completed")
    # a second run reuses the cached load step
    run("function_pipeline.py", mode, ductwork_home)
    store, found = runs(ductwork_home)
    newest = max(found, key=lambda r: r.created)
    assert {n.name: n.status for n in store.get_nodes(newest.id)}["load"] == "cached"


def test_task_pipeline(ductwork_home: Path) -> None:
    assert "succeeded" in run("task_pipeline.py", "local", ductwork_home)
    store, found = runs(ductwork_home)
    artifacts = {a.name for a in store.get_artifacts(found[0].id)}
    assert "count" in artifacts  # monitored from the count step


def _children(run_id: str):  # type: ignore[no-untyped-def]
    from ductwork.core.queries import TaskQuery

    return TaskQuery(parent=run_id)


@pytest.mark.parametrize("mode", ["debug", "local"])
def test_demo_pipeline(mode: str, ductwork_home: Path) -> None:
    from ductwork.demo_pipeline import run as run_demo
    from ductwork.pipelines.decorator import _defaults

    saved = _defaults.mode
    try:
        best = run_demo(mode)
    finally:
        _defaults.mode = saved
    assert best["rate"] in (0.01, 0.05, 0.1) and 2.0 < best["slope"] < 3.0
    _, found = runs(ductwork_home)
    assert [r.status for r in found] == ["completed"]


def test_public_names_are_exported() -> None:
    import ductwork

    assert sorted(ductwork.__all__) == sorted(ductwork._PUBLIC)
    for name in ductwork.__all__:
        assert getattr(ductwork, name) is not None
