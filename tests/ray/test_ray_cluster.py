"""`ductwork agent --ray` on a real local Ray cluster (issue 14).

One scenario for the module (scenario.py): a server, a Ray head and two worker nodes started
with `ray start`, the Ray agent and a client, each a machine of its own, all inside a network
namespace with loopback only (Ray looks for outside addresses when it starts; nothing may
leave loopback). One test asserts on what it wrote, in four checks: under pytest-xdist,
tests of one module may go to two workers, and each would start a cluster of its own. Without
`ray` or `unshare` the test skips locally and fails under CI=true.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
SCENARIO_TIMEOUT_S = 300  # a bound for a stuck cluster, not a timing the test asserts

pytestmark = pytest.mark.slow


def _missing() -> str:
    if importlib.util.find_spec("ray") is None:
        return "ray is not installed (pip install -e '.[test]' installs it)"
    for tool in ("unshare", "ip"):
        if shutil.which(tool) is None:
            return f"`{tool}` is missing (apt-get install util-linux iproute2)"
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"`unshare -n` failed (network namespaces need root): {probe.stderr.strip()}"
    return ""


def test_a_ray_cluster_serves_queues(scenario: dict[str, Any]) -> None:
    check_a_fan_out_pipeline_runs_on_the_ray_cluster(scenario)
    check_a_step_asking_for_a_custom_resource_waits_for_a_node_that_has_it(scenario)
    check_an_abort_cancels_the_running_ray_task_and_its_process(scenario)
    check_a_lost_ray_node_fails_its_task_and_requeues_it_as_a_lost_agents(scenario)


@pytest.fixture
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    missing = _missing()
    if missing:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"the Ray tests must run under CI: {missing}", pytrace=False)
        pytest.skip(missing)
    out = tmp_path_factory.mktemp("ray") / "scenario.json"
    inside = f"ip link set lo up && exec {sys.executable} {HERE / 'scenario.py'} {out}"
    # A pid namespace too: every Ray process ends with the scenario, whatever happens to it.
    argv = ["unshare", "-n", "-p", "-f", "--mount-proc", "--", "bash", "-c", inside]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=SCENARIO_TIMEOUT_S)
    found = json.loads(out.read_text()) if out.exists() else {}
    assert done.returncode == 0 and "error" not in found, (
        f"the Ray scenario failed (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}\n"
        + json.dumps(found.get("logs", {}), indent=1)[-12000:]
    )
    yield found


def check_a_fan_out_pipeline_runs_on_the_ray_cluster(scenario: dict[str, Any]) -> None:
    run = scenario["fanout"]
    steps = run["steps"]
    assert run["status"] == "completed", run
    assert {name: step["status"] for name, step in steps.items()} == dict.fromkeys(
        ["square_0", "square_1", "square_2", "total", "special"], "completed"
    )
    # Each ran as a Ray task on a node of the cluster, claimed by a slot of the Ray agent.
    for name, step in steps.items():
        assert len(step["nodes"]) == 1 and step["nodes"][0].startswith("127.0.0."), (name, step)
        assert step["worker"].startswith("ray-agent/"), (name, step)
    # Console, metrics and artifacts reached the server as from any agent: each square came
    # back as a scalar, and `total` read the three squares (artifacts) and printed their sum.
    for index in range(3):
        assert f"square {index} = {(index + 1) ** 2}" in steps[f"square_{index}"]["console"]
        assert steps[f"square_{index}"]["scalars"] == [float((index + 1) ** 2)]
    assert "total = 14" in steps["total"]["console"]


def check_a_step_asking_for_a_custom_resource_waits_for_a_node_that_has_it(scenario: dict[str, Any]) -> None:
    waiting = scenario["special_while_waiting"]
    assert waiting["status"] == "in_progress"
    assert any("waiting for Ray resources (CPU 1, special 1)" in line for line in waiting["console"])
    assert not any("started on Ray node" in line for line in waiting["console"]), waiting
    # The node with `special` joined only after that; the step ran there and nowhere else.
    special = scenario["fanout"]["steps"]["special"]
    assert special["nodes"] == ["127.0.0.3"]
    assert "special step ran" in special["console"]
    others = [step for name, step in scenario["fanout"]["steps"].items() if name != "special"]
    assert all(step["nodes"] != ["127.0.0.3"] for step in others)


def check_an_abort_cancels_the_running_ray_task_and_its_process(scenario: dict[str, Any]) -> None:
    abort = scenario["abort"]
    assert scenario["sleeper_alive_before"] is True
    assert abort["status"] == "stopped"
    assert abort["process_alive_after"] is False
    assert any("cancelling the Ray task" in line for line in abort["console"]), abort["console"]


def check_a_lost_ray_node_fails_its_task_and_requeues_it_as_a_lost_agents(scenario: dict[str, Any]) -> None:
    lost = scenario["lost"]
    assert lost["killed"] > 0  # every process of the node's machine
    lines = lost["console"]
    died = next(i for i, line in enumerate(lines) if "its Ray node or worker was lost (NodeDiedError" in line)
    # The driver says so once the task is settled, and with a retry left that puts it back on
    # its queue at once: the next agent's first line may come before the driver's.
    after = lines[died + 1 :]
    assert any("failed as a lost agent's task (1 retries were left" in line for line in after), lines
    # With a retry left it went back on its queue: claimed again, it waits for a node with
    # `special` (none is left), its retries spent.
    assert any("pulled from ray" in line for line in after), lines
    assert "waiting for Ray resources (CPU 1, special 1)" in lines[-1]
    assert (lost["status"], lost["retries_left"]) == ("in_progress", 0)
    # An abort while it waits takes it out of Ray's queue.
    waiting = lost["aborted while waiting"]
    assert waiting["status"] == "stopped"
    assert any("cancelling the Ray task (it never started)" in line for line in waiting["console"]), waiting
