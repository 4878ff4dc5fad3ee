"""SIGKILL in local mode (embedded store, SQLite and PostgreSQL): of the controller, then of a
step process. No attempt stays `in_progress`; a killed run resumes and finishes, reusing the
steps that completed; a killed step is retried by its policy. Steps count their starts and
ends in a file, so "executed once" is what really ran, not what the store says."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from fault_harness import (
    Processes,
    base_env,
    counts,
    in_progress,
    output,
    wait_for,
)

pytestmark = pytest.mark.slow

STEPS = """
import os
import sys

from ductwork import PipelineController, client
from ductwork.sdk.runner import load_output


def step(name, x, log, gate):
    import os
    import time

    with open(log, "a") as handle:
        handle.write(name + " start\\n")
    with open(log + "." + name + ".pid", "w") as handle:
        handle.write(str(os.getpid()))
    while gate and not os.path.exists(gate):
        time.sleep(0.05)
    with open(log, "a") as handle:
        handle.write(name + " end\\n")
    return x + 1


def show(pipe):
    last = pipe.get_pipeline_dag()["s3"]
    value = load_output(client.backend(), f"{last.executed}.out") if last.executed else None
    print("RUN", pipe.id, "VALUE", value, flush=True)


if sys.argv[1] == "resume":
    show(PipelineController.resume(sys.argv[2]))
    sys.exit(0)
log, gate, retries = sys.argv[1], sys.argv[2], int(sys.argv[3])
pipe = PipelineController(name="kills", project="faults", version="1.0.0", retry_on_failure=retries)
previous = None
for i in range(1, 4):
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
pipe.start_locally(run_pipeline_steps_locally=True)
show(pipe)
"""


def _env(tmp_path: Path, db_url: str | None) -> dict[str, str]:
    extra = {"DUCTWORK_DB_URL": db_url} if db_url else {}
    return base_env(tmp_path / "home", **extra)


def _store(tmp_path: Path, db_url: str | None) -> Any:
    from ductwork.store import Store

    return Store(db_url or f"sqlite:///{tmp_path / 'home' / 'ductwork.db'}")


def _run_id(process: Any) -> str:
    assert process.stdout is not None
    line = process.stdout.readline().decode()
    assert line.startswith("RUN "), line
    return line.split()[1]


def test_a_killed_local_controller_leaves_no_attempt_running_and_resumes(
    db_url: str | None, processes: Processes, tmp_path: Path
) -> None:
    log, gate = tmp_path / "steps.log", tmp_path / "gate"
    script = tmp_path / "steps.py"
    script.write_text(STEPS)
    env = _env(tmp_path, db_url)
    controller = processes.start([sys.executable, str(script), str(log), str(gate), "0"], env)
    run_id = _run_id(controller)
    wait_for("step s2 runs", lambda: counts(log).get("s2 start"))
    os.kill(controller.pid, signal.SIGKILL)
    controller.wait(10)

    # The next ductwork process that looks settles the dead attempts, at once (same host).
    listed = processes.start([sys.executable, "-m", "ductwork", "tasks", "list"], env)
    assert listed.wait(60) == 0, output(listed)
    store = _store(tmp_path, db_url)
    assert in_progress(store) == []
    lost = store.get_task(run_id)
    assert lost.status == "failed" and "process lost" in lost.status_reason, lost
    # The killed step's process died with its controller: it never ends on its own.
    s2_pid = int((tmp_path / "steps.log.s2.pid").read_text())
    wait_for("the killed controller's step process is gone", lambda: not _alive(s2_pid), 30)

    gate.touch()
    resumed = processes.start([sys.executable, str(script), "resume", run_id], env)
    assert resumed.wait(120) == 0, output(resumed)
    assert f"RUN {run_id} VALUE 3" in output(resumed)
    assert store.get_task(run_id).status == "completed"
    # s1 reused; s2 ran again (its first attempt was killed); each function ended once.
    assert counts(log) == {"s1 start": 1, "s1 end": 1, "s2 start": 2, "s2 end": 1, "s3 start": 1, "s3 end": 1}
    assert in_progress(store) == []
    store.close()


def test_a_killed_step_process_is_retried_by_its_policy(
    db_url: str | None, processes: Processes, tmp_path: Path
) -> None:
    log, gate = tmp_path / "steps.log", tmp_path / "gate"
    script = tmp_path / "steps.py"
    script.write_text(STEPS)
    controller = processes.start(
        [sys.executable, str(script), str(log), str(gate), "1"], _env(tmp_path, db_url)
    )
    run_id = _run_id(controller)
    wait_for("step s2 runs", lambda: counts(log).get("s2 start"))
    pid_file = tmp_path / "steps.log.s2.pid"
    first = int(wait_for("s2 says its pid", pid_file.read_text))
    os.kill(first, signal.SIGKILL)
    wait_for("s2 is retried", lambda: counts(log).get("s2 start") == 2)
    gate.touch()
    assert controller.wait(120) == 0, output(controller)
    assert f"RUN {run_id} VALUE 3" in output(controller)
    assert counts(log) == {"s1 start": 1, "s1 end": 1, "s2 start": 2, "s2 end": 1, "s3 start": 1, "s3 end": 1}
    store = _store(tmp_path, db_url)
    assert store.get_task(run_id).status == "completed"
    from ductwork.core.queries import TaskQuery

    attempts = sorted((t.name, t.status) for t in store.query_tasks(TaskQuery(parent=run_id, archived=None)))
    assert attempts == [("s1", "completed"), ("s2", "completed"), ("s2", "failed"), ("s3", "completed")]
    assert in_progress(store) == []
    store.close()


def _alive(pid: int) -> bool:
    from ductwork.core.orphans import process_alive

    return process_alive(pid, None)
