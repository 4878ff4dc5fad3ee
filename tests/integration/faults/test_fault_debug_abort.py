"""Debug mode (steps are function calls in the controller's process) honours an abort from
outside at the next step boundary: the running function cannot be interrupted, its result is
dropped, no further step starts, and the run ends `stopped` (SQLite and PostgreSQL)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fault_harness import GATED_STEP, Processes, base_env, counts, in_progress, output, wait_for

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


def test_a_debug_run_stops_at_the_next_step_boundary(
    db_url: str | None, processes: Processes, tmp_path: Path
) -> None:
    env = base_env(tmp_path / "home", **({"DUCTWORK_DB_URL": db_url} if db_url else {}))
    log, gate = tmp_path / "steps.log", tmp_path / "gate"
    script = tmp_path / "debug.py"
    script.write_text(DEBUG)
    controller = processes.start([sys.executable, str(script), str(log), str(gate)], env)
    assert controller.stdout is not None
    run_id = controller.stdout.readline().decode().split()[1]
    wait_for("step s2 runs", lambda: counts(log).get("s2 start"))
    aborted = processes.start([sys.executable, "-m", "ductwork", "tasks", "abort", run_id], env)
    assert aborted.wait(60) == 0, output(aborted)
    gate.touch()  # s2's function returns after the abort: that is the boundary
    assert controller.wait(60) == 0
    printed = output(controller)
    assert "'s3': 'skipped'" in printed and "'s4': 'skipped'" in printed, printed
    assert counts(log) == {"s1 start": 1, "s1 end": 1, "s2 start": 1, "s2 end": 1}  # nothing after

    from ductwork.core.queries import TaskQuery
    from ductwork.store import Store

    store = Store(db_url or f"sqlite:///{tmp_path / 'home' / 'ductwork.db'}")
    assert store.get_task(run_id).status == "stopped"
    steps = {t.name: t.status for t in store.query_tasks(TaskQuery(parent=run_id, archived=None))}
    # s2's function ran to its end: completed if that came before the controller saw the
    # abort, else stopped with its result dropped. Either way nothing started after it.
    assert steps["s1"] == "completed" and steps["s2"] in ("completed", "stopped") and len(steps) == 2, steps
    assert in_progress(store) == []
    store.close()
