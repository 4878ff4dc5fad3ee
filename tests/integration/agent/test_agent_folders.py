"""Steps run wherever they land: the agent lays a task out in its own folder (or its checkout)
plus the task's relative `working_dir`, and still runs tasks recorded with another machine's
absolute folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ductwork.agent import workspace
from ductwork.core.errors import ValidationError
from ductwork.core.queries import TaskQuery
from ductwork.core.records import Param

SRC = str(Path(__file__).resolve().parents[3] / "src")
GONE = "/nonexistent/controller-machine/project"  # a folder of the machine that made the task


def where_am_i(tag: str):
    import os

    print("running in", os.getcwd(), tag)
    return os.getcwd()


def git_repository(root: Path) -> str:
    """A repository with `src/jobs/train.py`, committed; its commit."""
    (root / "src" / "jobs").mkdir(parents=True)
    (root / "src" / "jobs" / "train.py").write_text("import os\nprint('train in', os.getcwd())\n")

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True)
        return done.stdout

    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "-m", "code")
    return git("rev-parse", "HEAD").strip()


# ---- workspace.prepare


def test_a_function_step_is_laid_out_in_the_own_folder_plus_its_relative_part(tmp_path: Path) -> None:
    own = tmp_path / "own"
    own.mkdir()
    script = {"module": "ductwork.sdk.runner", "code": "x = 1\n", "working_dir": "data/in"}
    space = workspace.prepare("t1", script, own)
    assert space.cwd == own / "data" / "in" and space.cwd.is_dir()
    assert space.args == ["-m", "ductwork.sdk.runner"] and space.notes == []
    assert workspace.prepare("t1", {**script, "working_dir": "."}, own).cwd == own


def test_a_standalone_script_is_written_beside_its_folder(tmp_path: Path) -> None:
    own = tmp_path / "own"
    own.mkdir()
    space = workspace.prepare(
        "t2", {"entry_point": "job.py", "code": "print(1)\n", "working_dir": "out"}, own
    )
    assert space.cwd == own / "out" and space.args == [str(own / "job.py")]
    assert (own / "job.py").read_text() == "print(1)\n"


def test_an_old_absolute_folder_missing_here_becomes_the_own_folder_with_a_note(tmp_path: Path) -> None:
    own = tmp_path / "own"
    own.mkdir()
    space = workspace.prepare("t3", {"module": "json.tool", "working_dir": GONE}, own)
    assert space.cwd == own
    assert len(space.notes) == 1 and GONE in space.notes[0] and "t3" in space.notes[0]


def test_an_absolute_folder_that_exists_here_is_used(tmp_path: Path) -> None:
    own, shared = tmp_path / "own", tmp_path / "shared"
    own.mkdir()
    shared.mkdir()
    space = workspace.prepare("t4", {"module": "json.tool", "working_dir": str(shared)}, own)
    assert (space.cwd, space.notes) == (shared, [])


def test_a_repository_task_runs_in_its_folder_of_the_checkout(tmp_path: Path) -> None:
    repo = tmp_path / "origin"
    commit = git_repository(repo)
    script = {"repository": str(repo), "commit": commit, "entry_point": "train.py", "working_dir": "src/jobs"}
    first = tmp_path / "first"
    first.mkdir()
    space = workspace.prepare("t5", script, first)
    assert space.cwd == first / "repo" / "src" / "jobs" and space.notes == []
    assert str(first / "repo") in space.python_path
    # recorded by an older version: the absolute folder of the machine that made it
    old = tmp_path / "old"
    old.mkdir()
    legacy = workspace.prepare("t5", {**script, "working_dir": "/home/me/origin/src/jobs"}, old)
    assert legacy.cwd == old / "repo" / "src" / "jobs"
    assert "/home/me/origin/src/jobs" in legacy.notes[0]


def test_a_repository_folder_missing_from_the_checkout_is_refused(tmp_path: Path) -> None:
    repo = tmp_path / "origin"
    commit = git_repository(repo)
    own = tmp_path / "own"
    own.mkdir()
    script = {"repository": str(repo), "commit": commit, "entry_point": "train.py"}
    with pytest.raises(
        workspace.CodeError, match=r"task t6: its working folder .*/repo/nope \(script.working_dir\)"
    ):
        workspace.prepare("t6", {**script, "working_dir": "nope"}, own)
    with pytest.raises(ValidationError, match=r"task t6: script\.working_dir '/srv/elsewhere' is not inside"):
        workspace.prepare("t6", {**script, "working_dir": "/srv/elsewhere"}, tmp_path / "again")


@pytest.mark.parametrize(
    ("working_dir", "why"),
    [("../..", "leads out"), ("../../etc", "leads out"), ("a\0b", "NUL byte"), ("/tmp/\0x", "NUL byte")],
)
def test_hostile_folders_are_refused_and_nothing_is_written_outside(
    tmp_path: Path, working_dir: str, why: str
) -> None:
    own = tmp_path / "deep" / "own"
    own.mkdir(parents=True)
    script = {"entry_point": "x.py", "code": "print(1)\n", "working_dir": working_dir}
    with pytest.raises(ValidationError, match=f"task t7: script.working_dir .*{why}"):
        workspace.prepare("t7", script, own)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["deep", "own"]


# ---- a real agent, a real step


def test_a_step_recorded_on_another_machine_runs_on_an_agent(
    sqlite_store: Any, sqlite_url: str, tmp_path: Path, ductwork_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A function step run locally runs in the controller's current folder and records only a
    relative folder; the same step recorded (by an older version) with a folder that does not
    exist on the agent's machine still runs there, in its own folder, saying so."""
    from ductwork import PipelineController, client

    controller_folder = tmp_path / "controller"
    controller_folder.mkdir()
    monkeypatch.chdir(controller_folder)
    monkeypatch.setenv("DUCTWORK_DB_URL", sqlite_url)
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    client.use(None)
    pipe = PipelineController(name="folders", project="tests")
    pipe.add_function_step("where", where_am_i, function_kwargs={"tag": "local"}, function_return=["folder"])
    pipe.start_locally(run_pipeline_steps_locally=True)
    (step,) = sqlite_store.query_tasks(TaskQuery(runtime={"step": "where"}))
    assert step.status == "completed"
    assert step.script["working_dir"] == "."
    assert f"running in {controller_folder} local" in [
        line.text for line in sqlite_store.get_console(step.id)
    ]

    store = sqlite_store
    store.ensure_queue("default")
    runs = {}
    for tag, folder in (("new", "."), ("old", GONE)):
        clone = store.clone_task(step.id, name=f"where {tag}")
        clone = store.edit_task(clone.id, {"script": {**clone.script, "working_dir": folder}})
        store.set_parameters(clone.id, {"kwargs/tag": Param(value=tag, type="str")})
        store.enqueue(clone.id, "default")
        runs[tag] = clone
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUCTWORK_")}
    env.update(DUCTWORK_HOME=str(tmp_path / "agent-home"), DUCTWORK_DB_URL=sqlite_url)
    env["PYTHONPATH"] = os.pathsep.join([SRC, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    agent = subprocess.run(
        [sys.executable, "-m", "ductwork.agent", "--queue", "default", "--same-env", "--max-tasks", "2"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert agent.returncode == 0, agent.stderr
    for tag, task in runs.items():
        done = store.get_task(task.id)
        lines = [line.text for line in store.get_console(task.id)]
        assert done.status == "completed", (done.status_message, lines)
        ran_in = next(
            text.split()[2] for text in lines if text.startswith("running in ") and text.endswith(tag)
        )
        # the agent's own folder for it, beside the lock that marks it as in use (agent/scratch.py)
        assert Path(ran_in).name.startswith(task.id[:8]), ran_in
        assert Path(ran_in).parent.name == f"ductwork-agents-{os.getuid()}", ran_in
        noted = [text for text in lines if GONE in text and "does not exist on this machine" in text]
        assert len(noted) == (1 if tag == "old" else 0), lines
