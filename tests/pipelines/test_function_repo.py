"""A function step inside a git repository (issue 13, item 10): `add_function_step(repo=,
repo_branch=, repo_commit=)` and `@PipelineDecorator.component(repo=...)`.

As ClearML documents it, the step runs inside the repository: its code imports the repository's
modules (`helpers`) and reads its files by relative path, the working folder being the
repository root. `repo` is a git URL (here a bare repository served by `file://`, cloned and
pinned to a commit) or a local clone (recorded by its remote URL and current commit). Bad input
is refused before the pipeline creates a step. The same pipeline on agents is in
tests/integration/agent/test_function_repo_machines.py.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.pipelines.conftest import backend

from ductwork import PipelineController, PipelineDecorator, Task
from ductwork.agent import workspace
from ductwork.core.errors import ValidationError
from ductwork.core.queries import TaskQuery


def git(folder: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@e", *args],
        cwd=folder,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def make_repository(root: Path) -> tuple[Path, str, dict[str, str]]:
    """A clone `root/work` with `helpers.py` and `data/offset.txt` (7), pushed to the bare
    `root/origin.git`; branch `v2` has offset 8. Answers the clone, the bare repository's
    file:// URL and the commits by name."""
    work = root / "work"
    (work / "data").mkdir(parents=True)
    (work / "helpers.py").write_text("def scale(x):\n    return 10 * x\n")
    (work / "data" / "offset.txt").write_text("7\n")
    git(work, "init", "-q", "-b", "main")
    git(work, "add", ".")
    git(work, "commit", "-q", "-m", "helpers")
    first = git(work, "rev-parse", "HEAD")
    git(work, "checkout", "-q", "-b", "v2")
    (work / "data" / "offset.txt").write_text("8\n")
    git(work, "commit", "-q", "-am", "offset 8")
    second = git(work, "rev-parse", "HEAD")
    git(work, "checkout", "-q", "main")
    bare = root / "origin.git"
    git(root, "clone", "-q", "--bare", str(work), str(bare))
    git(work, "remote", "add", "origin", f"file://{bare}")
    git(work, "fetch", "-q", "origin")
    return work, f"file://{bare}", {"main": first, "v2": second}


Repository = tuple[Path, str, dict[str, str]]


@pytest.fixture
def repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Repository:
    """The repository; the test runs in `tmp_path`, which has neither helpers.py nor data/."""
    monkeypatch.chdir(tmp_path)
    return make_repository(tmp_path / "repos")


def from_repo(x: int):
    import helpers  # the repository's module

    with open("data/offset.txt") as handle:  # relative to the repository root
        offset = int(handle.read())
    return helpers.scale(x) + offset


@pytest.fixture(params=["debug", "local"])
def run_mode(request: pytest.FixtureRequest, home: Path) -> str:
    return str(request.param)


def run_steps(mode: str, steps: dict[str, dict[str, object]]) -> dict[str, Task]:
    """A pipeline of `from_repo` steps (each with `x` = 3 and its repo arguments) run in
    `mode`; the step tasks by name."""
    pipe = PipelineController(name="from_repo", project="tests")
    for name, repo_args in steps.items():
        pipe.add_function_step(
            name=name, function=from_repo, function_kwargs={"x": 3}, function_return=["y"], **repo_args
        )
    pipe.start_locally(run_pipeline_steps_locally=True, in_process=mode == "debug")
    dag = pipe.get_pipeline_dag()
    assert pipe.is_successful(), {name: node.error for name, node in dag.items()}
    return {name: Task.get_task(task_id=node.executed) for name, node in dag.items()}


def test_a_step_from_a_git_url_imports_its_modules_and_reads_its_files(
    run_mode: str,
    repository: Repository,
    tmp_path: Path,
) -> None:
    _, url, commits = repository
    tasks = run_steps(
        run_mode,
        {
            "tip": {"repo": url},
            "pinned": {"repo": url, "repo_commit": commits["main"]},
            "branch": {"repo": url, "repo_branch": "v2"},
        },
    )
    assert {name: task.artifacts["y"].get() for name, task in tasks.items()} == {
        "tip": 37,
        "pinned": 37,
        "branch": 38,
    }
    # What an agent clones: the URL, and the commit found when the step was defined
    script = tasks["branch"].data.script
    assert (script["repository"], script["commit"], script["branch"]) == (url, commits["v2"], "v2")
    assert tasks["tip"].data.script["commit"] == commits["main"]
    assert Path.cwd() == tmp_path  # debug mode put the working folder back


def test_a_step_from_a_local_clone_records_its_remote_and_commit(
    run_mode: str,
    repository: Repository,
    tmp_path: Path,
) -> None:
    work, url, commits = repository
    (work / "helpers.py").write_text("def scale(x):\n    return 100 * x\n")  # not committed
    tasks = run_steps(run_mode, {"mine": {"repo": str(work / "data")}})  # a folder inside the clone
    # here it runs in the clone as the user sees it; agents get the commit plus the diff
    assert tasks["mine"].artifacts["y"].get() == 307
    script = tasks["mine"].data.script
    assert (script["repository"], script["commit"], script["branch"]) == (url, commits["main"], "main")
    assert "+    return 100 * x" in script["diff"]


def test_a_clone_without_a_remote_is_recorded_by_its_path_with_a_warning(
    home: Path, repository: Repository, tmp_path: Path
) -> None:
    work, _, commits = repository
    git(work, "remote", "remove", "origin")
    with pytest.warns(UserWarning, match=rf"repo {work} has no remote.*only machines that see that path"):
        tasks = run_steps("local", {"mine": {"repo": str(work), "repo_branch": "v2"}})
    assert tasks["mine"].artifacts["y"].get() == 38
    script = tasks["mine"].data.script
    assert (script["repository"], script["commit"]) == (str(work), commits["v2"])
    # An agent on a machine without that folder says which repository it cannot reach.
    with pytest.raises(
        workspace.CodeError, match=r"cannot clone /nowhere/work: no such folder on this machine"
    ):
        workspace.prepare("t1", {**script, "repository": "/nowhere/work"}, tmp_path / "agent")


@PipelineDecorator.component(return_values=["y"])
def plain(x: int):
    return x


@PipelineDecorator.pipeline(name="components_from_repo", project="tests")
def components_from_repo(url: str):
    inside = PipelineDecorator.component(from_repo, return_values=["y"], repo=url, repo_branch="v2")
    return inside(plain(3))


def test_a_component_runs_inside_its_repository(mode: str, repository: Repository, tmp_path: Path) -> None:
    _, url, _ = repository
    assert components_from_repo(url) == 38


def test_the_same_commit_is_a_cache_hit_another_is_not(
    home: Path, repository: Repository, tmp_path: Path
) -> None:
    _, url, commits = repository

    def cached(commit: str) -> str:
        pipe = PipelineController(name="cached_repo", project="tests")
        pipe.add_function_step(
            name="step",
            function=from_repo,
            function_kwargs={"x": 1},
            function_return=["y"],
            repo=url,
            repo_commit=commit,
            cache_executed_step=True,
        )
        pipe.start_locally(run_pipeline_steps_locally=True, in_process=True)
        return str(pipe.get_pipeline_dag()["step"].cache_note)

    assert cached(commits["main"]).startswith("cache miss")
    assert cached(commits["main"]).startswith("cache hit")
    assert "code changed" in cached(commits["v2"])


def test_a_branch_is_looked_up_each_time_a_step_is_defined(home: Path, repository: Repository) -> None:
    """A long-lived process defining the pipeline again (a notebook, a scheduler) gets the
    branch's new commit; within one definition the commit is pinned."""
    work, url, commits = repository
    first = run_steps("debug", {"tip": {"repo": url, "repo_branch": "main"}})["tip"]
    (work / "data" / "offset.txt").write_text("9\n")
    git(work, "commit", "-q", "-am", "offset 9")
    git(work, "push", "-q", "origin", "main")
    again = run_steps("debug", {"tip": {"repo": url, "repo_branch": "main"}})["tip"]
    assert (first.artifacts["y"].get(), again.artifacts["y"].get()) == (37, 39)
    assert first.data.script["commit"] == commits["main"]
    assert again.data.script["commit"] == git(work, "rev-parse", "HEAD")


def test_an_unpushed_commit_of_a_local_clone_is_warned_of(home: Path, repository: Repository) -> None:
    work, _, _ = repository
    git(work, "commit", "-q", "--allow-empty", "-m", "not pushed")
    with pytest.warns(UserWarning, match=r"commit \w{12} of repo .* is on no branch of its remote"):
        tasks = run_steps("local", {"mine": {"repo": str(work)}})
    assert tasks["mine"].artifacts["y"].get() == 37  # here, the clone as it is


def gated(x: int, gate: str):
    import os

    import helpers

    if not os.path.exists(gate):
        raise RuntimeError("the gate is closed")
    return helpers.scale(x)


def test_a_resumed_run_clones_the_commit_it_pinned(
    home: Path, repository: Repository, tmp_path: Path
) -> None:
    """A rerun from the stored DAG (resume; a clone of a stored pipeline) has no script to
    read repo= from: the stored step code names the repository and the commit the run pinned."""
    work, url, commits = repository
    gate = tmp_path / "gate"
    pipe = PipelineController(name="resumed_repo", project="tests")
    pipe.add_function_step(
        name="gated",
        function=gated,
        function_kwargs={"x": 4, "gate": str(gate)},
        function_return=["y"],
        repo=url,
    )
    pipe.start_locally(run_pipeline_steps_locally=True)
    assert not pipe.is_successful()
    git(work, "commit", "-q", "--allow-empty", "-m", "later")
    git(work, "push", "-q", "origin", "main")  # the branch moved on; the run keeps its commit
    gate.touch()
    resumed = PipelineController.resume(pipe.id, run_pipeline_steps_locally=True)
    assert resumed.is_successful(), {n: node.error for n, node in resumed.get_pipeline_dag().items()}
    task = Task.get_task(task_id=resumed.get_pipeline_dag()["gated"].executed)
    assert task.artifacts["y"].get() == 40
    assert (task.data.script["repository"], task.data.script["commit"]) == (url, commits["main"])


# ---- bad input, refused before the pipeline creates a step


@pytest.mark.parametrize(
    ("repo_args", "error"),
    [
        (
            {"repo": "file:///nonexistent/repo.git"},
            r"step 'bad': cannot clone file:///nonexistent/repo.git: ",
        ),
        ({"repo": "/nonexistent/folder"}, r"repo '/nonexistent/folder' is neither a git URL nor a folder"),
        ({"repo": "URL", "repo_commit": "0" * 40}, r"step 'bad': cannot check out 0{40} of file://"),
        ({"repo": "URL", "repo_branch": "no-such-branch"}, r"cannot check out no-such-branch of file://"),
        ({"repo": "URL\0x"}, r"repo 'file://.*\\x00x' holds a control character"),
        ({"repo": "URL", "repo_commit": "abc\0"}, r"repo_commit 'abc\\x00' holds a space or a control"),
        ({"repo": "ext::sh -c 'touch PWNED'"}, r"git remote helpers .* are refused"),
        ({"repo": "fd::7"}, r"git remote helpers .* are refused"),
        ({"repo": "ftp://example.invalid/repo.git"}, r"unsupported URL scheme 'ftp'"),
        ({"repo": "--upload-pack=touch PWNED"}, r"starts with '-' \(git would read it as an option\)"),
        ({"repo": "URL", "repo_branch": "--orphan=x"}, r"repo_branch '--orphan=x' starts with '-'"),
        ({"repo": 7}, r"repo must be a git URL or a folder path, not 7"),
        ({"repo_commit": "abc"}, r"repo_branch / repo_commit need repo"),
        (
            {"repo": "URL", "working_dir": "/etc"},
            r"working_dir '/etc' must be relative to the root of its repo",
        ),
        ({"repo": "URL", "working_dir": "../.."}, r"working_dir '../..' leads out"),
        ({"repo": "URL", "working_dir": "nope"}, r"working_dir 'nope' is not a folder of repo"),
    ],
)
def test_bad_repositories_are_refused_before_any_step_exists(
    home: Path,
    repository: Repository,
    tmp_path: Path,
    repo_args: dict[str, Any],
    error: str,
) -> None:
    _, url, _ = repository
    given: dict[str, Any] = {
        k: v.replace("URL", url) if isinstance(v, str) else v for k, v in repo_args.items()
    }
    pipe = PipelineController(name="bad_repo", project="tests")
    with pytest.raises(ValidationError, match=error):
        pipe.add_function_step(name="bad", function=from_repo, function_kwargs={"x": 1}, **given)
    with pytest.raises(ValidationError, match=error):
        PipelineDecorator.component(from_repo, name="bad", **given)
    assert pipe.get_pipeline_dag() == {}
    assert backend().query_tasks(TaskQuery(type=["training"])) == []
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize(
    "repository", ["ext::sh -c 'touch PWNED'", "--upload-pack=touch PWNED", "/x\0y", "gopher://host/r"]
)
def test_an_agent_refuses_a_hostile_repository_a_stored_task_names(tmp_path: Path, repository: str) -> None:
    """A task's script comes from whoever created it: the agent checks it as the SDK does."""
    own = tmp_path / "own"
    own.mkdir()
    script = {"module": "ductwork.sdk.runner", "code": "x = 1\n", "repository": repository}
    with pytest.raises(ValidationError, match=r"repository .*(refused|option|control|scheme)"):
        workspace.prepare("t1", script, own)
    assert not (tmp_path / "PWNED").exists() and not (own / "PWNED").exists()
