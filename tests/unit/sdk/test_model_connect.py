"""`OutputModel.connect(task, name=...)`: ClearML connects the model to the task under `name`, the
name the task has it under (`monitor_models` and `task.models` go by it). Ours renames the link the
constructor made (`rename_model_link`), embedded, over a server and in an offline session."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ductwork import OutputModel, Task

SRC = Path(__file__).resolve().parents[3] / "src"


def _links(task: Task) -> list[tuple[str, str]]:
    return [(link.role, link.name) for link in task._backend.get_task_models(task.id)]


@pytest.mark.parametrize("backend", ["embedded", "server"])
def test_connect_renames_the_link_the_constructor_made(request: pytest.FixtureRequest, backend: str) -> None:
    request.getfixturevalue("server" if backend == "server" else "sdk_home")
    trainer = Task.create(project_name="urls", task_name="trainer", module="json.tool")
    base = OutputModel(task=trainer, name="centroids")
    task = Task.init("urls", "connect")
    best = OutputModel(task=task, base_model_id=base.id)  # linked under its own name
    assert _links(task) == [("output", "centroids")]

    best.connect(task, name="best")
    best.connect(task, name="best")  # again: nothing to do
    best.connect(task)  # no name: keeps the one it has
    best.connect(trainer, name="borrowed")  # another task: a link of its own

    assert _links(task) == [("output", "best")]
    assert [(m.id, m.name) for m in task.models["output"]] == [(best.id, "centroids")]  # its own name
    assert _links(trainer) == [("output", "centroids"), ("output", "borrowed")]


OFFLINE = """
from ductwork import OutputModel, Task

Task.set_offline(True)
task = Task.init("offline", "connect")
model = OutputModel(task=task, name="net")
model.connect(task, name="best")
print("folder", task.get_offline_mode_folder())
task.close()
"""


def test_a_rename_in_an_offline_session_arrives_with_it(sdk_home: Path, tmp_path: Path) -> None:
    script = tmp_path / "offline_connect.py"
    script.write_text(textwrap.dedent(OFFLINE))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUCTWORK_")}
    env.update({"DUCTWORK_HOME": str(tmp_path / "laptop"), "PYTHONPATH": str(SRC)})
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    folder = next(line for line in done.stdout.splitlines() if line.startswith("folder ")).split(" ", 1)[1]

    task = Task.get_task(Task.import_offline_session(folder))

    assert _links(task) == [("output", "best")]
    assert [model.name for model in task.models["output"]] == ["net"]
