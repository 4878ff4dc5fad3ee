"""A server restart mid-run: a local controller whose steps run on agents, the agents, and
the step whose function finishes while the server is down all ride it out; the run completes
with every step executed once and its result stored. Server, agent and controller are each a
machine of their own; the server restarts on its machine (same home and port)."""

from __future__ import annotations

import pytest
from fault_harness import (
    GATE,
    GATED_STEP,
    STEPS_LOG,
    counts,
    in_progress,
    open_gate,
    restart_server,
    start_script,
    wait_for,
)

from machines import Machines, Server

pytestmark = pytest.mark.slow

CHAIN = (
    """
import sys

from ductwork import PipelineController, client
from ductwork.pipelines.runner import load_output

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


def test_a_server_restart_mid_run_leaves_a_completed_run(machines: Machines, server: Server) -> None:
    agent = machines.agent("agent", ["default"])
    laptop = machines.client("laptop")
    controller = start_script(laptop, CHAIN, STEPS_LOG, GATE)
    wait_for("step s2 runs", lambda: counts(agent).get("s2 start"))

    # Down while s2's function finishes: its result is saved once the server is back.
    def finished_while_down() -> bool:
        open_gate(agent)
        return bool(counts(agent).get("s2 end"))

    restart_server(server, down_s=1.0, until=finished_while_down)
    assert controller.wait(120) == 0, laptop.log("controller.log")
    printed = laptop.log("controller.log")
    assert "VALUE 4" in printed, printed
    done = counts(agent, laptop)
    assert done == {f"s{i} {edge}": 1 for i in range(1, 5) for edge in ("start", "end")}, done

    run_id = printed.split("RUN ")[1].split()[0]
    assert server.api.get_task(run_id).status == "completed"
    from ductwork.core.queries import TaskQuery

    steps = server.api.query_tasks(TaskQuery(parent=run_id, archived=None))
    assert sorted((s.name, s.status) for s in steps) == [(f"s{i}", "completed") for i in range(1, 5)]
    assert in_progress(server.api) == []
