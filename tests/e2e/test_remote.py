"""Remote mode end to end on separate machines (tests/machines.py): a real `ductwork server`,
an agent serving `services` (four controllers at once) and one serving `default`, each its
own machine, and a client machine (`laptop`) that runs the examples with `start()`. The
example scripts are copied to the laptop only: steps get their code from their tasks, as on a
real agent. On SQLite and PostgreSQL; the server and agents of each database are shared by the
module's tests (each test waits for its runs to end, so the next finds idle agents).

Also NEW RUN with edited arguments, abort of a running remote run and continuing a failed one,
through the API.
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ductwork.core.queries import TaskQuery
from machines import Machine, Server, open_machines

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@dataclass
class Remote:
    server: Server
    laptop: Machine  # alice's machine: runs the pipeline scripts


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def remote(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    with open_machines(request, tmp_path_factory) as machines:
        server = machines.server(db=request.param)
        machines.agent("services", queues=["services"], services=4)
        machines.agent("default", queues=["default"])
        yield Remote(server, machines.client("laptop"))


def test_function_pipeline_runs_remotely_then_reruns_with_new_arguments(remote: Remote) -> None:
    server = remote.server
    out = remote.laptop.run(EXAMPLES / "function_pipeline.py", "remote")
    assert "queued on 'services'" in out
    run = server.controller("summaries")
    done = server.wait_final(run.id)
    assert done.status == "completed", done.status_message
    assert done.user == "alice"  # the laptop's user, not the agents' account
    steps = server.steps(run.id)
    assert set(steps) >= {"load", "clean", "mean", "spread", "report"}
    assert {s.status for s in steps.values()} == {"completed"}
    assert all(s.queue == "default" and s.worker == "default" for s in steps.values())

    started = server.api.new_run(run.id, {"rows": "50"})
    assert started["listening"] is True and started["name"] == "summaries #2"
    rerun = server.wait_final(started["id"])
    assert rerun.status == "completed", rerun.status_message
    assert server.api.get_parameters(rerun.id)["Args/rows"].value == 50
    load = server.steps(rerun.id)["load"]
    assert 50 in [p.value for p in server.api.get_parameters(load.id).values()]


def test_decorator_pipeline_runs_remotely(remote: Remote) -> None:
    server = remote.server
    before = {r.id for r in server.api.query_tasks(TaskQuery(type=["controller"], archived=None))}
    remote.laptop.run(EXAMPLES / "decorator_pipeline.py", "remote")
    runs = [
        r for r in server.api.query_tasks(TaskQuery(type=["controller"], archived=None)) if r.id not in before
    ]
    assert len(runs) == 1
    done = server.wait_final(runs[0].id)
    assert done.status == "completed", done.status_message
    assert {s.status for s in server.steps(done.id).values()} == {"completed"}


SLOW_PIPELINE = """
import time
from ductwork import PipelineController


def nap(seconds):
    import time
    time.sleep(seconds)
    return seconds


pipe = PipelineController(name="sleepy", project="e2e", version="1.0.0")
pipe.add_parameter("seconds", 300)
pipe.set_default_execution_queue("default")
pipe.add_function_step("nap", nap, function_kwargs={"seconds": "${pipeline.seconds}"}, function_return=["s"])
pipe.add_function_step("after", nap, function_kwargs={"seconds": 0}, parents=["nap"], function_return=["s"])
pipe.start(queue="services")
"""


def test_abort_stops_a_remote_run_and_its_running_step(remote: Remote) -> None:
    server = remote.server
    remote.laptop.run(textwrap.dedent(SLOW_PIPELINE))
    run = server.controller("sleepy")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        nap = server.steps(run.id).get("nap")
        if nap is not None and nap.status == "in_progress":
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"the nap step never ran: {server.steps(run.id)}")
    stopped = server.api.abort_run(run.id)
    assert run.id in stopped and nap.id in stopped
    assert server.wait_final(run.id, 30).status == "stopped"
    assert server.wait_final(nap.id, 30).status == "stopped"
    assert "after" not in server.steps(run.id) or server.steps(run.id)["after"].status != "completed"
    # the agent on `default` is free again
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if any(w.task_id is None for w in server.workers("default")):
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"the default agent is still busy: {server.api.list_workers()}")


# The flag lives on the machine that runs the step (the `default` agent), in its own home.
FLAKY_PIPELINE = """
from ductwork import PipelineController


def first():
    return 1


def flaky(x, flag):
    import os
    flag = os.path.expanduser(flag)
    if not os.path.exists(flag):
        open(flag, "w").close()
        raise RuntimeError("first attempt fails")
    return x + 1


pipe = PipelineController(name="flaky", project="e2e", version="1.0.0")
pipe.add_parameter("flag", "~/flaky-flag")
pipe.set_default_execution_queue("default")
pipe.add_function_step("first", first, function_return=["x"])
pipe.add_function_step(
    "flaky",
    flaky,
    function_kwargs={"x": "${first.x}", "flag": "${pipeline.flag}"},
    function_return=["y"],
)
pipe.start(queue="services")
"""


def test_a_failed_remote_run_continues_from_its_failed_step(remote: Remote) -> None:
    server = remote.server
    remote.laptop.run(FLAKY_PIPELINE)
    run = server.controller("flaky")
    assert server.wait_final(run.id).status == "failed"
    first = server.steps(run.id)["first"]
    assert first.status == "completed"
    answer = server.api._call("POST", f"/api/runs/{run.id}/continue", json={})
    assert answer["id"] == run.id and answer["listening"] is True
    done = server.wait_final(run.id)
    assert done.status == "completed", done.status_message
    steps = server.api.query_tasks(TaskQuery(parent=run.id, archived=None))
    assert [s.id for s in steps if s.name == "first"] == [first.id]  # reused, not run again
    assert any(s.name == "flaky" and s.status == "completed" for s in steps), [
        (s.name, s.status) for s in steps
    ]
