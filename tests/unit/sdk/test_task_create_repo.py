"""Task.create(repo=..., script=<a path in the repository>), as ClearML takes it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ductwork import Task
from ductwork.core import launch
from ductwork.core.errors import ValidationError

REPO = "https://example.invalid/x.git"


def test_a_relative_script_is_a_path_in_the_repository_run_from_its_root(sdk_home: Path) -> None:
    task = Task.create(project_name="made", repo=REPO, branch="main", script="src/train.py")
    assert task.status == "created"
    assert task.name == "train"
    script = task.data.script
    assert (script["repository"], script["branch"]) == (REPO, "main")
    assert script["entry_point"] == "src/train.py"
    assert script["working_dir"] == "."
    assert "code" not in script  # nothing of this machine: the agent runs the checkout's file


def test_the_working_directory_is_relative_to_the_root_and_prefixes_come_off(sdk_home: Path) -> None:
    inside = Task.create(project_name="made", repo=REPO, script="./src//train.py", working_directory="src")
    assert (inside.data.script["working_dir"], inside.data.script["entry_point"]) == ("src", "train.py")
    beside = Task.create(project_name="made", repo=REPO, script="tools/run.py", working_directory="data")
    assert (beside.data.script["working_dir"], beside.data.script["entry_point"]) == ("data", "tools/run.py")


def test_the_recorded_script_runs_in_a_checkout(sdk_home: Path, tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    (checkout / "src").mkdir(parents=True)
    (checkout / "src" / "train.py").write_text("import os\nprint('ran in', os.path.basename(os.getcwd()))\n")
    for folder, expected in ((None, "checkout"), ("src", "src")):
        task = Task.create(project_name="made", repo=REPO, script="src/train.py", working_directory=folder)
        planned = launch.plan(
            task.id,
            task.data.script,
            folder=str(tmp_path / "own"),
            exists=lambda p: Path(p).exists(),
            checkout=str(checkout),
        )
        done = subprocess.run(
            [sys.executable, *planned.argv], cwd=planned.cwd, capture_output=True, text=True, check=True
        )
        assert done.stdout.strip() == f"ran in {expected}"


@pytest.mark.parametrize(
    ("script", "folder", "why"),
    [
        ("../outside.py", None, "script '../outside.py' leads out"),
        ("src/../../x.py", None, "leads out"),
        ("a\0b.py", None, "NUL byte"),
        (".", None, "not a file path"),
        ("train.py", "../up", "working_directory '../up' leads out"),
    ],
)
def test_a_path_leading_out_of_the_repository_is_refused(
    sdk_home: Path, script: str, folder: str | None, why: str
) -> None:
    with pytest.raises(ValidationError, match=why):
        Task.create(project_name="made", repo=REPO, script=script, working_directory=folder)
    assert Task.get_tasks(project_name="made") == []


def test_an_absolute_script_is_still_read_from_this_machine(sdk_home: Path, tmp_path: Path) -> None:
    local = tmp_path / "train.py"
    local.write_text("print('hi')\n")
    task = Task.create(project_name="made", repo=REPO, script=str(local))
    assert task.data.script["code"].endswith("print('hi')\n")
    assert task.data.script["entry_point"] == "train.py"
