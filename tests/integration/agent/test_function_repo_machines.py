"""A function step inside its repository, run by agents on machines of their own (issue 13,
item 10; the same pipeline in debug and local mode is in tests/pipelines/test_function_repo.py).

The repository lives on a git host machine, served by `git daemon` on 127.0.0.1: a `file://`
URL would name a folder no other machine sees (each runs in its own mount namespace,
tests/machines.py). The controller runs on a laptop, which clones the repository once when the
steps are defined and pins their commits; each step runs on an agent, which clones the
repository into its own work folder (agent.workspace) and runs the step at its root: the step
imports the repository's `helpers` and reads `data/offset.txt` by relative path. A step given
the laptop's own clone (a folder path) runs on the agent as the clone's remote URL and commit
plus its uncommitted diff, as ClearML records a local repository.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from tests.pipelines.test_function_repo import make_repository

pytestmark = pytest.mark.slow  # a server, an agent, a git host and a laptop

PIPELINE = """
import json
import subprocess
import sys

from ductwork import PipelineController, Task


def from_repo(x: int):
    import helpers  # the repository's module

    with open("data/offset.txt") as handle:  # relative to the repository root
        offset = int(handle.read())
    return helpers.scale(x) + offset


url, first = sys.argv[1], sys.argv[2]
# the user's own clone, with a change not committed: recorded as its remote, commit and diff
subprocess.run(["git", "clone", "-q", url, "mine"], check=True)
with open("mine/helpers.py", "w") as handle:
    handle.write("def scale(x):\\n    return 100 * x\\n")

pipe = PipelineController(name="repo_on_agents", project="machines")
common = dict(function=from_repo, function_kwargs={"x": 3}, function_return=["y"], execution_queue="default")
pipe.add_function_step(name="branch", repo=url, repo_branch="v2", **common)
pipe.add_function_step(name="pinned", repo=url, repo_commit=first, **common)
pipe.add_function_step(name="mine", repo="mine", **common)
pipe.start_locally()
dag = pipe.get_pipeline_dag()
assert pipe.is_successful(), {name: node.error for name, node in dag.items()}
tasks = {name: Task.get_task(task_id=node.executed) for name, node in dag.items()}
print(json.dumps({
    name: [task.artifacts["y"].get(), task.data.script["repository"], task.data.script["commit"]]
    for name, task in tasks.items()
}))
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(machines: Any, base: Path) -> str:
    """`git daemon` on a git host machine, serving the bare repository `base/origin.git`."""
    if shutil.which("git") is None:
        pytest.fail("this test needs git (apt-get install git)")
    host = machines.machine("githost")
    served = host.root / "served"
    shutil.copytree(base / "origin.git", served / "origin.git")
    port = free_port()
    daemon = ["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={served}"]
    host.start([*daemon, "--listen=127.0.0.1", f"--port={port}", str(served)], "git.log")
    url = f"git://127.0.0.1:{port}/origin.git"
    deadline = time.monotonic() + 30
    while subprocess.run(["git", "ls-remote", url], capture_output=True, check=False).returncode != 0:
        assert time.monotonic() < deadline, f"git daemon did not start:\n{host.log('git.log')}"
        time.sleep(0.1)
    return url


def test_a_function_step_runs_inside_its_repository_on_an_agent(machines: Any, tmp_path: Path) -> None:
    _, _, commits = make_repository(tmp_path / "made")
    machines.server()
    machines.agent("agent-1", queues=["default"])
    url = serve(machines, tmp_path / "made")
    laptop = machines.client("laptop")

    results = json.loads(laptop.run(PIPELINE, url, commits["main"]).strip().splitlines()[-1])

    assert results == {
        "branch": [38, url, commits["v2"]],  # branch v2's offset, at the commit the laptop pinned
        "pinned": [37, url, commits["main"]],
        "mine": [307, url, commits["main"]],  # the agent applied the clone's uncommitted diff
    }
