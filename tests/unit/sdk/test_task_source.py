"""Where a task is shown and where its code comes from: `get_output_log_web_page`, `set_repo`,
`Task.force_store_standalone_script`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from ductwork import Task
from ductwork.core.errors import StatusError, ValidationError


def test_the_web_page_of_a_task_on_the_embedded_store_is_where_ductwork_ui_serves(sdk_home: Path) -> None:
    task = Task.init("pages", "local")
    page = task.get_output_log_web_page()
    assert page == f"http://127.0.0.1:8080/tasks/{task.id}"
    assert Task.get_task(task.id).get_output_log_web_page() == page


def test_the_web_page_of_a_task_on_a_server_is_its_page_there(
    server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = Task.init("pages", "served")
    page = Task.get_task(task.id).get_output_log_web_page()
    assert page == f"{os.environ['DUCTWORK_API_URL']}/tasks/{task.id}"
    shown = httpx.get(page, headers={"Authorization": f"Bearer {os.environ['DUCTWORK_API_KEY']}"})
    assert shown.status_code == 200 and "served" in shown.text
    # browsers reach the server elsewhere (a proxy in front of it)
    monkeypatch.setenv("DUCTWORK_WEB_URL", "https://ductwork.example.com/")
    assert task.get_output_log_web_page() == f"https://ductwork.example.com/tasks/{task.id}"


def test_set_repo_sets_the_repository_branch_and_commit_and_keeps_the_rest(sdk_home: Path) -> None:
    task = Task.create(project_name="source", task_name="repo")
    task.set_script(entry_point="train.py", working_dir="jobs")
    task.set_repo(repo="https://example.com/team/models.git", branch="main")
    task.set_repo(commit="0123abcd")
    script = Task.get_task(task.id).data.script
    assert script["repository"] == "https://example.com/team/models.git"
    assert (script["branch"], script["commit"]) == ("main", "0123abcd")
    assert (script["entry_point"], script["working_dir"]) == ("train.py", "jobs")
    with pytest.raises(ValidationError, match=r"commit must be a str, got int \(5\)"):
        task.set_repo(commit=5)  # type: ignore[arg-type]
    task.mark_started()
    task.mark_completed()
    task._backend.set_status(task.id, "published")
    with pytest.raises(StatusError, match="published"):
        task.set_repo(branch="other")


def _repository(folder: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
            cwd=folder,
            check=True,
            capture_output=True,
        )

    git("init", "-q")
    git("remote", "add", "origin", "https://example.com/team/scripts.git")
    (folder / "README").write_text("x")
    git("add", "README")
    git("commit", "-q", "-m", "first")


SCRIPT = """
from ductwork import Task
{before}
task = Task.init("source", "standalone")
print("task", task.id, flush=True)
"""


@pytest.mark.parametrize("standalone", [False, True])
def test_force_store_standalone_script_stores_the_code_and_no_repository(
    run_script: Any, tmp_path: Path, standalone: bool
) -> None:
    _repository(tmp_path)
    before = "Task.force_store_standalone_script()" if standalone else ""
    done = run_script(SCRIPT.format(before=before))
    assert done.returncode == 0, done.stderr
    task_id = done.stdout.split("task ", 1)[1].split()[0]
    script = Task.get_task(task_id).data.script
    assert "Task.init" in str(script["code"]) and script["entry_point"] == "script.py"
    if standalone:
        assert not {"repository", "branch", "commit", "diff"} & set(script)
        assert script["working_dir"] == "."
    else:
        assert script["repository"] == "https://example.com/team/scripts.git" and script["commit"]


def test_force_store_standalone_script_names_a_bad_flag() -> None:
    with pytest.raises(ValidationError, match="force must be a bool, got 'yes'"):
        Task.force_store_standalone_script("yes")  # type: ignore[arg-type]
