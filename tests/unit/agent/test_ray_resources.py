"""What a task asks of a Ray cluster (`ductwork.agent.ray.resources`) and the launcher that
reads it: the queue's `--resources QUEUE=JSON`, the task's runtime `resources` (user input
through the API, so hostile values are refused before anything runs), the driver's request.
Ray itself is not needed here: tests/ray runs a real cluster."""

from __future__ import annotations

import json
import math
import stat
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ductwork.agent.commands import agent_command
from ductwork.agent.process import ConsoleStream
from ductwork.agent.ray import launcher as ray_launcher
from ductwork.agent.ray import resources
from ductwork.agent.ray.launcher import RayLauncher
from ductwork.core.errors import ValidationError
from ductwork.core.records import TaskRecord
from ductwork.process import spawn


def test_amounts_are_rays_resource_names_and_numbers() -> None:
    given = {"CPU": 2, "GPU": 0.5, "memory": 4e9, "special": 1, "node:10.0.0.2": 0.01}
    assert resources.checked(given, "here") == {k: float(v) for k, v in given.items()}
    assert resources.ray_options({"CPU": 2.0, "GPU": 1.0, "memory": 4e9, "special": 1.0}) == {
        "num_cpus": 2.0,
        "num_gpus": 1.0,
        "memory": 4_000_000_000,
        "resources": {"special": 1.0},
    }
    # CPU 0 stays 0 (Ray's default of one CPU does not come back).
    assert resources.ray_options({"special": 1.0}) == {"num_cpus": 0, "resources": {"special": 1.0}}


def test_a_task_overrides_its_queue_key_by_key() -> None:
    assert resources.asked(None, None, "t") == {"CPU": 1.0}
    queue = {"CPU": 4.0, "GPU": 1.0}
    assert resources.asked(queue, None, "t") == queue
    assert resources.asked(queue, {"GPU": 2, "special": 1}, "t") == {"CPU": 4.0, "GPU": 2.0, "special": 1.0}
    assert resources.asked(queue, {"GPU": 0}, "t") == {"CPU": 4.0}  # 0 drops it


HOSTILE: list[Any] = [
    "GPU",
    ["GPU", 1],
    42,
    {"GPU": "1"},
    {"GPU": True},
    {"GPU": None},
    {"GPU": [1]},
    {"GPU": {"count": 1}},
    {"GPU": -1},
    {"GPU": math.nan},
    {"GPU": math.inf},
    {"memory": 1e300},
    {"": 1},
    {"a b": 1},
    {"x" * 101: 1},
    {"../../etc": 1},
    {"GPU\n": 1},
    {"1GPU": 1},
    {f"r{i}": 1 for i in range(resources.MAX_KEYS + 1)},
]


@pytest.mark.parametrize("value", HOSTILE, ids=[f"hostile-{i}" for i in range(len(HOSTILE))])
def test_hostile_task_resources_are_refused_with_a_reason(value: Any) -> None:
    with pytest.raises(ValidationError, match=r"task t: runtime\.resources"):
        resources.asked(None, value, "t")


def test_queue_resources_option() -> None:
    assert resources.parse_queue('gpu={"GPU": 1}') == ("gpu", {"GPU": 1.0})
    for bad in ("gpu", '={"GPU": 1}', "gpu={GPU: 1}", "gpu=[1]", 'gpu={"GPU": -2}'):
        with pytest.raises(ValidationError, match="--resources"):
            resources.parse_queue(bad)


def test_the_cli_refuses_resources_it_cannot_use() -> None:
    runner = CliRunner()
    cases = [
        (["--queue", "gpu", "--resources", 'gpu={"GPU": 1}'], "--ray"),
        (["--queue", "gpu", "--ray", "auto", "--resources", 'cpu={"CPU": 1}'], "not a --queue"),
        (["--queue", "gpu", "--ray", "auto", "--resources", "gpu=nope"], "not JSON"),
    ]
    for args, said in cases:
        result = runner.invoke(agent_command, args)
        assert result.exit_code == 2 and said in result.output, result.output


class _Backend:
    def __init__(self, task: TaskRecord) -> None:
        self.task = task

    def get_task(self, task_id: str) -> TaskRecord:
        assert task_id == self.task.id
        return self.task


def _start(task: TaskRecord, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[Any]]:
    """RayLauncher.start with `spawn` recorded (it runs `true` instead of the driver)."""
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    started: list[Any] = []

    def fake_spawn(argv: list[str], **kwargs: Any) -> Any:
        request = Path(argv[-1])
        started.append((argv, kwargs, json.loads(request.read_text()), stat.S_IMODE(request.stat().st_mode)))
        return spawn(["true"], cwd=kwargs["cwd"], env=kwargs["env"])

    monkeypatch.setattr(ray_launcher, "spawn", fake_spawn)
    env = {
        "DUCTWORK_TASK_ID": task.id,
        "DUCTWORK_API_URL": "http://127.0.0.1:9",
        "DUCTWORK_API_KEY": "key",
        "DUCTWORK_HOME": "/home/agent/.ductwork",
        "DUCTWORK_PIPE": "/tmp/pipe",
        "SECRET_OF_THE_AGENT": "x",
    }
    launcher = RayLauncher(_Backend(task), "127.0.0.1:6379", {"gpu": {"GPU": 1.0}})
    console = ConsoleStream(task.id, lambda lines: None)
    try:
        process = launcher.start(
            task.script, ["python", "-m", "x"], cwd=tmp_path, env=env, paths=[], console=console
        )
        process.child.wait()
        process.finish()
    finally:
        console.close()
    return process, started


def test_the_driver_gets_a_private_request_with_only_what_the_node_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = TaskRecord(queue="gpu", runtime={"resources": {"special": 1}}, script={"module": "m"})
    _, started = _start(task, tmp_path, monkeypatch)
    [(argv, kwargs, request, mode)] = started
    assert argv[1:3] == ["-m", ray_launcher.DRIVER]
    assert kwargs["die_with_parent"] is True
    assert mode == 0o600  # it holds the task's API key
    assert request["resources"] == {"CPU": 1.0, "GPU": 1.0, "special": 1.0}
    assert request["script"] == {"module": "m"}
    # The node gets ductwork's variables only, never the agent's home, pipe or anything else.
    assert request["env"] == {
        "DUCTWORK_TASK_ID": task.id,
        "DUCTWORK_API_URL": "http://127.0.0.1:9",
        "DUCTWORK_API_KEY": "key",
    }
    assert not list(tmp_path.glob("ductwork-ray-*"))  # gone once the driver ended


def test_a_task_with_hostile_resources_never_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    task = TaskRecord(queue="gpu", runtime={"resources": {"GPU": "all of them"}})
    with pytest.raises(ValidationError, match="must be a number"):
        _start(task, tmp_path, monkeypatch)
    assert not list(tmp_path.glob("ductwork-ray-*"))


def test_the_embedded_stores_home_goes_only_with_its_url() -> None:
    env = {"DUCTWORK_DB_URL": "sqlite:////shared/d.db", "DUCTWORK_HOME": "/shared", "DUCTWORK_TASK_ID": "t"}
    assert ray_launcher.node_env(env) == env  # a one-machine cluster: the nodes see those files
    with_server = {**env, "DUCTWORK_API_URL": "http://127.0.0.1:9"}
    assert "DUCTWORK_HOME" not in ray_launcher.node_env(with_server)


def test_on_the_node_the_tasks_variables_win(monkeypatch: pytest.MonkeyPatch) -> None:
    from ductwork.agent.ray import remote

    monkeypatch.setenv("DUCTWORK_API_KEY", "the node's own key")  # a node's leftovers never reach a task
    monkeypatch.setenv("DUCTWORK_PIPE", "/tmp/pipe")
    monkeypatch.setenv("PYTHONPATH", "/site")
    env = remote._env({"DUCTWORK_TASK_ID": "t", "DUCTWORK_API_URL": "http://a"}, ["/work/t"])
    assert {k: v for k, v in env.items() if k.startswith("DUCTWORK_")} == {
        "DUCTWORK_TASK_ID": "t",
        "DUCTWORK_API_URL": "http://a",
    }
    assert env["PYTHONPATH"] == "/work/t:/site"
    assert env["PYTHONUNBUFFERED"] == "1"


def test_the_driver_exits_as_the_task_did(capsys: pytest.CaptureFixture[str]) -> None:
    from ductwork.agent.ray import driver

    assert driver._exit_status(0) == 0
    assert driver._exit_status(3) == 3
    assert driver._exit_status(-9) == 137  # killed by a signal: as a shell says it
    assert driver._show({"lines": [["stdout", "out"], ["stderr", "err"], ["ductwork", "note"]]}) is None
    assert driver._show({"exit": 2}) == 2
    shown = capsys.readouterr()
    assert (shown.out, shown.err) == ("out\n", "err\nnote\n")
