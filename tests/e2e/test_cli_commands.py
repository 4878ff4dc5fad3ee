"""The `ductwork` command line, run as a separate process like a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def ductwork(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUCTWORK_")}
    env.update(DUCTWORK_HOME=str(home), PYTHONPATH=str(SRC), COLUMNS="250")
    done = subprocess.run(
        [sys.executable, "-m", "ductwork", *args], capture_output=True, text=True, env=env, timeout=120
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"ductwork {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    return done


@pytest.fixture
def demo_ids(home: Path) -> dict[str, str]:
    done = ductwork(home, "demo", "--no-ui")
    ids = {}
    for line in done.stdout.split("\nLook at it with")[0].splitlines():
        parts = line.split()
        if len(parts) >= 2 and len(parts[-1]) == 32 and parts[0] != "ductwork":
            ids[" ".join(parts[:-1])] = parts[-1]
    assert set(ids) == {"prepare data", "train", "evaluate"}, done.stdout
    assert "ductwork tasks list" in done.stdout
    return ids


def test_help_lists_the_commands_and_loads_no_store(home: Path) -> None:
    done = ductwork(home, "--help")
    for command in ("tasks", "artifacts", "queues", "db", "demo"):
        assert command in done.stdout
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, ductwork.cli; print('sqlalchemy' in sys.modules, 'rich' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
        check=True,
    )
    assert probe.stdout.split() == ["False", "False"]


def test_demo_then_list_and_show(home: Path, demo_ids: dict[str, str]) -> None:
    listed = ductwork(home, "tasks", "list", "--project", "ductwork demo").stdout
    for task_id in demo_ids.values():
        assert task_id in listed
    assert "3 of 3 task(s)" in listed and "completed" in listed
    assert ductwork(home, "tasks", "list", "--status", "failed").stdout.count("completed") == 0
    assert (
        "1 of 10" in ductwork(home, "tasks", "list", "--limit", "1").stdout
    )  # 3 tasks + a 7-task pipeline run

    shown = ductwork(home, "tasks", "show", demo_ids["train"]).stdout
    for expected in ("learning_rate", "General/epochs", "demo regressor", "output", "training", "completed"):
        assert expected in shown, expected
    prepared = ductwork(home, "tasks", "show", demo_ids["prepare data"]).stdout
    for artifact in (
        "summary",
        "notes",
        "samples file",
        "docs folder",
        "ratio",
        "samples array",
        "samples table",
    ):
        assert artifact in prepared, artifact


def test_artifacts_get(home: Path, demo_ids: dict[str, str], tmp_path: Path) -> None:
    task_id = demo_ids["prepare data"]
    path = ductwork(home, "artifacts", "get", task_id, "samples file").stdout.strip()
    assert Path(path).read_text().startswith("x,noise\n")
    out = tmp_path / "copy.csv"
    ductwork(home, "artifacts", "get", task_id, "samples file", "--out", str(out))
    assert out.read_text().startswith("x,noise\n")
    folder = tmp_path / "docs"
    ductwork(home, "artifacts", "get", task_id, "docs folder", "--out", str(folder))
    assert (folder / "README.txt").exists()
    missing = ductwork(home, "artifacts", "get", task_id, "nope", check=False)
    assert missing.returncode == 1
    assert "has no artifact 'nope'" in missing.stderr and "samples file" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_unknown_task_is_a_one_line_error(home: Path) -> None:
    done = ductwork(home, "tasks", "show", "0" * 32, check=False)
    assert done.returncode == 1
    assert "0" * 32 in done.stderr and "Traceback" not in done.stderr
    bad = ductwork(home, "tasks", "list", "--status", "sleeping", check=False)
    assert bad.returncode == 2 and "sleeping" in bad.stderr


def test_queues_list(home: Path) -> None:
    env = {**os.environ, "DUCTWORK_HOME": str(home), "PYTHONPATH": str(SRC)}
    subprocess.run(
        [sys.executable, "-c", "from ductwork import client; client.backend().ensure_queue('gpu')"],
        env=env,
        check=True,
    )
    listed = ductwork(home, "queues", "list").stdout
    assert "gpu" in listed and "1 queue(s)" in listed


def test_db_upgrade(home: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh' / 'other.db'}"
    done = ductwork(home, "db", "upgrade", "--url", url)
    assert "schema at revision" in done.stdout
    assert (tmp_path / "fresh" / "other.db").exists()
    again = ductwork(home, "db", "upgrade")
    assert str(home) in again.stdout


def test_demo_runs_a_real_pipeline(home: Path, demo_ids: dict[str, str]) -> None:
    listed = ductwork(home, "pipelines", "list")
    assert "model search" in listed.stdout and "completed" in listed.stdout
    assert "6/6" in listed.stdout  # every step of the run succeeded
