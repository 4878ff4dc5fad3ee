"""What a task records as its working folder: relative to its code, never this machine's path."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ductwork import PipelineController, Task
from ductwork.core.errors import ValidationError
from ductwork.core.queries import TaskQuery
from ductwork.sdk import script as scripts


def git_checkout(root: Path, *folders: str) -> Path:
    """A git repository at `root` (with a remote) and the given folders in it."""
    root.mkdir(parents=True)
    for folder in folders:
        (root / folder).mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "remote", "add", "origin", "https://example.invalid/x.git"], cwd=root, check=True)
    return root


def double(x: int):
    return x * 2


# ---- scripts (Task.init, Task.create)


def test_a_scripts_folder_is_recorded_relative_to_its_repository(tmp_path: Path) -> None:
    repo = git_checkout(tmp_path / "project", "src/jobs")
    (repo / "src" / "jobs" / "run.py").write_text("")
    (tmp_path / "loose.py").write_text("")
    assert scripts.folder_in_repository(repo / "src" / "jobs" / "run.py") == "src/jobs"
    assert scripts.folder_in_repository(str(repo / "top.py")) == "."
    assert scripts.folder_in_repository(tmp_path / "loose.py") == "."  # no repository: its own folder


def test_task_init_records_the_folder_in_its_repository_and_the_repository(
    run_script: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    git_checkout(tmp_path / "project", "src/jobs")
    done = run_script(
        """
        from ductwork import Task
        task = Task.init(project_name="folders", task_name="in repo")
        print("ID", task.id)
        task.close()
        """,
        name="project/src/jobs/run.py",
    )
    assert done.returncode == 0, done.stderr
    task_id = done.stdout.split("ID ")[1].split()[0]
    recorded = Task.get_task(task_id=task_id).data.script
    assert recorded["entry_point"] == "run.py"
    assert recorded["working_dir"] == "src/jobs"
    assert recorded["repository"] == "https://example.invalid/x.git"


def test_task_create_keeps_a_given_folder_and_defaults_to_the_own_folder(
    sdk_home: Path, tmp_path: Path
) -> None:
    script = tmp_path / "train.py"
    script.write_text("print('hi')\n")
    assert Task.create(project_name="made", script=str(script)).data.script["working_dir"] == "."
    given = Task.create(project_name="made", script=str(script), working_directory="data/./in")
    assert given.data.script["working_dir"] == "data/in"
    home = Task.create(project_name="made", module="json.tool", working_directory="~/shared")
    assert home.data.script["working_dir"] == os.path.expanduser("~/shared")  # kept for local runs


def test_task_create_records_a_scripts_place_in_the_repository_it_names(
    sdk_home: Path, tmp_path: Path
) -> None:
    repo = git_checkout(tmp_path / "project", "tools")
    (repo / "tools" / "train.py").write_text("print('hi')\n")
    task = Task.create(
        project_name="made", script=str(repo / "tools" / "train.py"), repo="https://example.invalid/x.git"
    )
    assert task.data.script["working_dir"] == "tools"
    assert task.data.script["entry_point"] == "train.py"


@pytest.mark.parametrize(
    ("value", "why"),
    [("../..", "leads out"), ("a/../../b", "leads out"), ("x\0y", "NUL byte"), (3, "must be a str")],
)
def test_task_create_refuses_a_hostile_folder_naming_the_field(sdk_home: Path, value: Any, why: str) -> None:
    with pytest.raises(ValidationError, match=f"working_directory.*{why}"):
        Task.create(project_name="made", module="json.tool", working_directory=value)
    assert Task.get_tasks(project_name="made") == []


# ---- pipelines


def test_a_function_step_records_a_relative_folder(sdk_home: Path) -> None:
    pipe = PipelineController(name="folders", project="tests")
    pipe.add_function_step("plain", double, function_kwargs={"x": 1}, function_return=["y"])
    pipe.add_function_step(
        "inside", double, function_kwargs={"x": 2}, function_return=["y"], working_dir="data/"
    )
    pipe.start_locally(run_pipeline_steps_locally=True, in_process=True)
    from ductwork import client

    steps = client.backend().query_tasks(TaskQuery(runtime={"run": pipe.id}))
    assert {t.runtime["step"]: t.script["working_dir"] for t in steps} == {"plain": ".", "inside": "data"}


@pytest.mark.parametrize(("value", "why"), [("../data", "leads out"), ("a\0", "NUL byte")])
def test_a_step_with_a_hostile_folder_is_refused_when_added(sdk_home: Path, value: str, why: str) -> None:
    pipe = PipelineController(name="folders", project="tests")
    with pytest.raises(ValidationError, match=f"^step 'bad': working_dir .* {why}"):
        pipe.add_function_step("bad", double, function_kwargs={"x": 1}, working_dir=value)


def test_the_controllers_own_script_records_no_folder_of_this_machine(
    sdk_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = git_checkout(tmp_path / "project", "pipelines")
    (repo / "pipelines" / "run.py").write_text("print('pipeline')\n")
    main = types.ModuleType("__main__")
    main.__file__ = str(repo / "pipelines" / "run.py")
    monkeypatch.setitem(sys.modules, "__main__", main)
    monkeypatch.chdir(tmp_path)

    plain = PipelineController(name="own", project="tests")._task.script
    assert plain["working_dir"] == "." and plain["entry_point"] == "run.py"
    assert not any(str(tmp_path) in str(value) for value in plain.values())
    in_repo = PipelineController(
        name="own", project="tests", repo="https://example.invalid/x.git"
    )._task.script
    assert (in_repo["working_dir"], in_repo["repository"]) == ("pipelines", "https://example.invalid/x.git")
    given = PipelineController(
        name="own", project="tests", repo="https://example.invalid/x.git", working_dir="ops"
    )
    assert given._task.script["working_dir"] == "ops"
    with pytest.raises(ValidationError, match=r"^pipeline 'own': working_dir '\.\./ops' leads out"):
        PipelineController(name="own", project="tests", working_dir="../ops")
