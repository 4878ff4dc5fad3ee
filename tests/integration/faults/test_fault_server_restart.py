"""A server restart mid-run: a local controller whose steps run on agents, the agents, and
the step whose function finishes while the server is down all ride it out; the run completes
with every step executed once and its result stored."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fault_harness import GATED_STEP, Processes, Server, counts, in_progress, output, wait_for

pytestmark = pytest.mark.slow

CHAIN = (
    """
import sys

from ductwork import PipelineController, client
from ductwork.sdk.runner import load_output

"""
    + GATED_STEP
    + """

log, gate = sys.argv[1], sys.argv[2]
pipe = PipelineController(name="restart", project="faults", version="1.0.0")
pipe.set_default_execution_queue("default")
previous = None
for i in range(1, 5):
    kwargs = {
        "name": f"s{i}",
        "x": 0 if previous is None else "${%s.out}" % previous,
        "log": log,
        "gate": gate if i == 2 else "",
    }
    pipe.add_function_step(
        f"s{i}", step, function_kwargs=kwargs, function_return=["out"],
        parents=[previous] if previous else None,
    )
    previous = f"s{i}"
pipe.start_locally()
last = pipe.get_pipeline_dag()["s4"]
print("RUN", pipe.id, "VALUE", load_output(client.backend(), f"{last.executed}.out"), flush=True)
"""
)


def test_a_server_restart_mid_run_leaves_a_completed_run(
    server: Server, processes: Processes, tmp_path: Path
) -> None:
    log, gate = tmp_path / "steps.log", tmp_path / "gate"
    script = tmp_path / "chain.py"
    script.write_text(CHAIN)
    processes.agent(server.client_env(tmp_path / "agent-home"), "default")
    controller = processes.start(
        [sys.executable, str(script), str(log), str(gate)], server.client_env(tmp_path / "controller-home")
    )
    wait_for("step s2 runs", lambda: counts(log).get("s2 start"))

    # Down while s2's function finishes: its result is saved once the server is back.
    def finished_while_down() -> bool:
        gate.touch()
        return bool(counts(log).get("s2 end"))

    server.restart(down_s=1.0, until=finished_while_down)
    assert controller.wait(120) == 0, output(controller)
    printed = output(controller)
    assert "VALUE 4" in printed, printed
    done = counts(log)
    assert done == {f"s{i} {edge}": 1 for i in range(1, 5) for edge in ("start", "end")}, done

    backend = server.backend()
    run_id = printed.split("RUN ")[1].split()[0]
    assert backend.get_task(run_id).status == "completed"
    from ductwork.core.queries import TaskQuery

    steps = backend.query_tasks(TaskQuery(parent=run_id, archived=None))
    assert sorted((s.name, s.status) for s in steps) == [(f"s{i}", "completed") for i in range(1, 5)]
    assert in_progress(backend) == []
