"""Debug mode (steps are function calls in the controller's process) honours an abort from
outside at the next step boundary: the running function cannot be interrupted, its result is
dropped, no further step starts, and the run ends `stopped` (SQLite and PostgreSQL). The
controller and the `ductwork tasks abort` that stops it run on one machine of their own."""

from __future__ import annotations

import sys

import pytest
from fault_harness import (
    GATE,
    GATED_STEP,
    STEPS_LOG,
    counts,
    in_progress,
    open_gate,
    run_id,
    start_script,
    wait_for,
)

from machines import Machines

pytestmark = pytest.mark.slow

DEBUG = (
    """
import sys

from ductwork import PipelineController

"""
    + GATED_STEP
    + """

log, gate = sys.argv[1], sys.argv[2]
pipe = PipelineController(name="debug", project="faults", version="1.0.0")
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
print("RUN", pipe.id, flush=True)
pipe.start_locally(in_process=True)
print("DONE", {name: node.status for name, node in pipe.get_pipeline_dag().items()}, flush=True)
"""
)


def test_a_debug_run_stops_at_the_next_step_boundary(machines: Machines, db_url: str | None) -> None:
    laptop = machines.machine("laptop", **({"DUCTWORK_DB_URL": db_url} if db_url else {}))
    controller = start_script(laptop, DEBUG, STEPS_LOG, GATE)
    run = run_id(laptop)
    wait_for("step s2 runs", lambda: counts(laptop).get("s2 start"))
    laptop.execute([sys.executable, "-m", "ductwork", "tasks", "abort", run], timeout=60)
    open_gate(laptop)  # s2's function returns after the abort: that is the boundary
    assert controller.wait(60) == 0, laptop.log("controller.log")
    printed = laptop.log("controller.log")
    assert "'s3': 'skipped'" in printed and "'s4': 'skipped'" in printed, printed
    assert counts(laptop) == {"s1 start": 1, "s1 end": 1, "s2 start": 1, "s2 end": 1}  # nothing after

    from ductwork.core.queries import TaskQuery
    from ductwork.store import Store

    # The test process opens the laptop's store itself (for SQLite, in the laptop's home).
    store = Store(db_url or f"sqlite:///{laptop.home / 'ductwork.db'}")
    assert store.get_task(run).status == "stopped"
    steps = {t.name: t.status for t in store.query_tasks(TaskQuery(parent=run, archived=None))}
    # s2's function ran to its end: completed if that came before the controller saw the
    # abort, else stopped with its result dropped. Either way nothing started after it.
    assert steps["s1"] == "completed" and steps["s2"] in ("completed", "stopped") and len(steps) == 2, steps
    assert in_progress(store) == []
    store.close()
