"""The CLI's ids (issue 16): printed whole when piped and on an 80-column terminal, a unique
prefix accepted wherever an id is taken, an ambiguous or unknown one a clear error (never a
traceback), `--json` on every list and show, and `ductwork demo` naming its run and its URL.

One demo home is shared by the module's tests (they only read it, except the last, which
adds tasks of its own); every command runs as a separate process, as a user runs it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DUCTWORK_", "TTY_", "FORCE_"))}
    env.update(DUCTWORK_HOME=str(home), PYTHONPATH=str(SRC), **extra)
    return env


def ductwork(home: Path, *args: str, ok: bool = True, **extra: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "ductwork", *args],
        capture_output=True,
        text=True,
        env=env_for(home, **extra),
        timeout=120,
    )
    if ok and done.returncode != 0:
        raise AssertionError(
            f"ductwork {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    return done


def as_json(home: Path, *args: str) -> Any:
    return json.loads(ductwork(home, *args, "--json").stdout)


class Demo:
    def __init__(self, home: Path, stdout: str) -> None:
        self.home, self.stdout = home, stdout
        self.tasks = as_json(home, "tasks", "list")["tasks"]
        self.runs = as_json(home, "pipelines", "list")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    home = tmp_path_factory.mktemp("cli-ids") / "home"
    yield Demo(home, ductwork(home, "demo", "--no-ui").stdout)


def test_demo_prints_its_run_id_and_the_run_page(demo: Demo) -> None:
    assert len(demo.runs) == 1
    run_id = demo.runs[0]["id"]
    assert f"Pipeline run: {run_id}" in demo.stdout
    assert f"http://127.0.0.1:8080/runs/{run_id}" in demo.stdout
    assert f"ductwork pipelines show {run_id}" in demo.stdout


def test_ids_are_whole_when_piped_and_on_an_80_column_terminal(demo: Demo) -> None:
    ids = [task["id"] for task in demo.tasks]
    assert len(ids) == 10 and all(len(task_id) == 32 for task_id in ids)
    run_id = demo.runs[0]["id"]
    steps = [step["task_id"] for step in demo.runs[0]["steps"]]
    for extra in ({"COLUMNS": "80"}, {"COLUMNS": "80", "TTY_COMPATIBLE": "1", "NO_COLOR": "1"}):
        listed = ductwork(demo.home, "tasks", "list", **extra).stdout
        runs = ductwork(demo.home, "pipelines", "list", **extra).stdout
        shown = ductwork(demo.home, "pipelines", "show", run_id, **extra).stdout
        for task_id in ids:
            assert task_id in listed, (extra, listed)
        assert run_id in runs and run_id in shown, (extra, runs)
        for task_id in steps:
            assert task_id in shown, (extra, shown)
        if "TTY_COMPATIBLE" in extra:  # a terminal: the table fits its 80 columns
            plain = re.sub(r"\x1b\[[0-9;]*m", "", listed)
            assert max(len(line) for line in plain.splitlines()) <= 80, plain
    assert "…" not in ductwork(demo.home, "tasks", "list", COLUMNS="80").stdout


def test_a_unique_prefix_is_taken_wherever_an_id_is(demo: Demo, tmp_path: Path) -> None:
    run_id = demo.runs[0]["id"]
    prepared = next(task["id"] for task in demo.tasks if task["name"] == "prepare data")
    shown = as_json(demo.home, "tasks", "show", prepared[:8])
    assert shown["task"]["id"] == prepared and shown["task"]["name"] == "prepare data"
    assert "summary" in {artifact["name"] for artifact in shown["artifacts"]}
    path = ductwork(demo.home, "artifacts", "get", prepared[:8], "samples file").stdout.strip()
    assert Path(path).read_text().startswith("x,noise\n")
    run = as_json(demo.home, "pipelines", "show", run_id[:6])
    assert run["id"] == run_id and run["status"] == "completed" and run["steps_done"] == "6/6"
    watched = ductwork(demo.home, "pipelines", "watch", run_id[:6])
    assert watched.stdout.strip().splitlines()[-1].startswith(f"run {run_id} completed in ")
    refused = ductwork(demo.home, "tasks", "abort", prepared[:8], ok=False)
    assert refused.returncode == 1 and "only a pending or running task" in refused.stderr


def test_an_unknown_or_wrong_kind_of_id_is_a_clear_error(demo: Demo) -> None:
    step_task = demo.runs[0]["steps"][0]["task_id"]
    for args, said in (
        (("pipelines", "show", "zzzz"), "no pipeline run id starts with 'zzzz'"),
        (("pipelines", "show", "0" * 32), "no pipeline run id starts with"),
        (("pipelines", "show", step_task), "no pipeline run id starts with"),  # a step, not a run
        (("pipelines", "watch", "zzzz"), "no pipeline run id starts with 'zzzz'"),
        (("pipelines", "resume", "zzzz"), "no pipeline run id starts with 'zzzz'"),
        (("tasks", "show", "zzzz"), "no task id starts with 'zzzz'"),
        (("tasks", "abort", "zzzz"), "no task id starts with 'zzzz'"),
        (("artifacts", "get", "zzzz", "x"), "no task id starts with 'zzzz'"),
        (("tasks", "show", "  "), "is not a task id"),
    ):
        done = ductwork(demo.home, *args, ok=False)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert said in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)


def test_json_on_every_list_and_show(demo: Demo) -> None:
    listed = as_json(demo.home, "tasks", "list", "--limit", "2")
    assert listed["total"] == 10 and len(listed["tasks"]) == 2
    assert listed["tasks"][0]["status"] == "completed" and listed["tasks"][0]["project_name"]
    train = next(task["id"] for task in demo.tasks if task["name"] == "train")
    shown = as_json(demo.home, "tasks", "show", train)
    assert shown["parameters"]["General/epochs"]["value"] == 25
    assert shown["models"][0]["model"]["name"] == "demo regressor"
    assert "training" in shown["configurations"]
    assert as_json(demo.home, "queues", "list") == []
    run = as_json(demo.home, "pipelines", "list")[0]
    assert run["name"] == "model search" and len(run["steps"]) == 6
    assert as_json(demo.home, "users", "list") == [] and as_json(demo.home, "keys", "list") == []
    assert as_json(demo.home, "scheduler", "list") == []


def test_status_words_are_the_web_uis(demo: Demo) -> None:
    from ductwork.core.display import STATUS_WORDS, status_word

    assert status_word("in_progress") == "running" and status_word("stopped") == "aborted"
    assert STATUS_WORDS["created"] == "draft" and STATUS_WORDS["queued"] == "pending"
    from ductwork.server.services.views.common import run_status

    for stored, word in STATUS_WORDS.items():
        assert run_status(type("Run", (), {"status": stored})()) == word  # type: ignore[arg-type]
    completed = ductwork(demo.home, "tasks", "list", "--status", "completed").stdout
    assert "10 of 10" in completed
    assert "0 of 0" in ductwork(demo.home, "tasks", "list", "--status", "running").stdout
    assert "0 of 0" in ductwork(demo.home, "tasks", "list", "--status", "in_progress").stdout


def test_an_ambiguous_prefix_lists_the_candidates(demo: Demo) -> None:
    # 17 tasks have 16 possible first hex digits: two of them share at least one.
    code = (
        "from ductwork import client\n"
        "from ductwork.core.records import TaskRecord\n"
        "b = client.backend()\n"
        "for i in range(7): b.create_task(TaskRecord(name=f'extra {i}'))\n"
    )
    subprocess.run([sys.executable, "-c", code], env=env_for(demo.home), check=True, timeout=60)
    ids = [task["id"] for task in as_json(demo.home, "tasks", "list")["tasks"]]
    assert len(ids) == 17
    prefix = next(task_id[0] for task_id in ids if sum(other[0] == task_id[0] for other in ids) > 1)
    sharing = [task_id for task_id in ids if task_id.startswith(prefix)]
    done = ductwork(demo.home, "tasks", "show", prefix, ok=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"'{prefix}' starts the ids of {len(sharing)} tasks" in done.stderr
    for task_id in sharing:
        assert re.search(rf"^\s+{task_id}\s", done.stderr, re.M), done.stderr
    unique = next(task_id for task_id in ids if task_id[:10] not in {o[:10] for o in ids if o != task_id})
    assert as_json(demo.home, "tasks", "show", unique[:10])["task"]["id"] == unique


def test_watch_on_a_terminal_draws_the_steps_and_ends_with_the_run(demo: Demo) -> None:
    run_id = demo.runs[0]["id"]
    done = ductwork(demo.home, "pipelines", "watch", run_id[:5], TTY_COMPATIBLE="1", COLUMNS="100")
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", done.stdout)
    for step in demo.runs[0]["steps"]:
        assert step["name"] in plain and step["task_id"] in plain, plain
    assert plain.strip().splitlines()[-1].startswith(f"run {run_id} completed in "), plain


def test_api_keys_by_prefix_and_in_json(demo: Demo) -> None:
    ductwork(demo.home, "users", "add", "ann", "--role", "agent")
    ductwork(demo.home, "keys", "create", "--user", "ann", "--name", "laptop")
    keys = as_json(demo.home, "keys", "list")
    assert [(key["user"], key["name"], key["revoked"]) for key in keys] == [("ann", "laptop", None)]
    assert "secret" not in json.dumps(keys) and "token" not in json.dumps(keys)
    assert as_json(demo.home, "users", "list")[0]["name"] == "ann"
    missing = ductwork(demo.home, "keys", "revoke", "zzzz", ok=False)
    assert missing.returncode == 1 and "no API key id starts with 'zzzz'" in missing.stderr
    revoked = ductwork(demo.home, "keys", "revoke", keys[0]["id"][:6])
    assert revoked.stdout.strip() == f"revoked {keys[0]['id']}"
    assert as_json(demo.home, "keys", "list")[0]["revoked"] is not None
