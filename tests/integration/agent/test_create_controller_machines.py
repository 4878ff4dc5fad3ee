"""`PipelineController.create` and `node.job` through a server, on machines of their own.

A laptop holds the pipeline's script and makes a draft run of it with
`PipelineController.create`, then enqueues it; nothing else of the laptop's reaches the other
machines. A services-mode agent on one machine runs the controller, a second agent on another
machine runs the step. The step's `post_execute_callback`, inside the controller on the first
agent's machine, reads `node.job` (its task, status, metric, console, worker) through the
server and prints what it saw to the controller's console; after the run, the laptop loads the
run with `PipelineController.get` and reads the same job through the server again.
"""

from __future__ import annotations

import inspect
import json
import time
from pathlib import Path
from typing import Any

import pytest
from tests.pipelines.test_node_job import train

pytestmark = pytest.mark.slow  # a server, two agents and a laptop

PIPELINE_TEMPLATE = """
import json

from ductwork import PipelineController


{train}

def after(pipe, node):
    print("NODE-JOB " + json.dumps(seen(node.job)), flush=True)


def seen(job):
    return {{
        "task_id": job.task_id(),
        "task": job.task.id,
        "status": job.status(),
        "completed": job.is_completed() and job.is_stopped() and not job.is_running(),
        "cached": job.is_cached_task(),
        "metric": job.get_metric("loss", "train"),
        "missing": job.get_metric("loss", "nope"),
        "iterations": job.iterations(),
        "console": "\\n".join(job.get_console_output()),
        "worker": job.worker(),
        "elapsed": job.elapsed(),
    }}


pipe = PipelineController(name="made remotely", project="remote create")
pipe.add_parameter("x", 4)
pipe.set_default_execution_queue("default")
step = dict(function_kwargs={{"x": "${{pipeline.x}}"}}, function_return=["y"], post_execute_callback=after)
pipe.add_function_step("train", train, **step)
pipe.start(queue="services")
"""
# The step of tests/pipelines/test_node_job.py (the same job, there on the embedded store).
PIPELINE = PIPELINE_TEMPLATE.format(train=inspect.getsource(train))

# argv: the run's name, the script, its version. Prints the run's id.
CREATE = """
import sys

from ductwork import PipelineController

name, script, version = sys.argv[1:]
pipe = PipelineController.create(
    project_name="remote create", task_name=name, script=script, version=version
)
PipelineController.enqueue(pipe, queue_name="services")
print(pipe.id)
"""

# argv: the run's id. The laptop reads the finished run's step job through the server.
READ_BACK = """
import json, sys

from ductwork import PipelineController
from made_seen import seen

pipe = PipelineController.get(pipeline_id=sys.argv[1])
node = pipe.get_pipeline_dag()["train"]
print(json.dumps({"version": pipe.version, **seen(node.job)}))
"""


def test_a_created_pipeline_runs_remotely_and_its_step_job_reads_through_the_server(
    machines: Any, tmp_path: Path
) -> None:
    # made_seen.py: the read-back's `seen`, without running the pipeline at import
    seen_only = PIPELINE[: PIPELINE.index("pipe = PipelineController(")]
    files = {"made.py": PIPELINE, "made_seen.py": seen_only}
    server, laptop = with_agents_and_laptop(machines, files, tmp_path)

    run_id = laptop.run(CREATE, "made remotely", "made.py", "3.1.0").strip().splitlines()[-1]
    draft = server.api.get_task(run_id)
    assert draft.type == "controller" and "pipeline" in draft.system_tags
    done = server.wait_final(run_id, timeout=180)
    console = "\n".join(line.text for line in server.api.get_console(run_id))
    assert done.status == "completed", f"{done.status_message}\n{console}"

    step = server.steps(run_id)["train"]
    assert step.status == "completed"
    in_callback = json.loads(_console_line(server, run_id, "NODE-JOB "))
    check_job(in_callback, step.id)

    read_back = json.loads(laptop.run(READ_BACK, run_id).strip().splitlines()[-1])
    assert read_back.pop("version") == "3.1.0"
    check_job(read_back, step.id)


def _console_line(server: Any, task_id: str, prefix: str) -> str:
    """The rest of the task's console line that starts with `prefix`. A controller sets its own
    final status before its process ends; the agent sends the output it read last with its next
    claim, a moment later: the line may come after the status."""
    deadline = time.monotonic() + 60
    while True:
        for line in server.api.get_console(task_id):
            if line.text.startswith(prefix):
                return str(line.text[len(prefix) :])
        assert time.monotonic() < deadline, f"no console line starts with {prefix!r}"
        time.sleep(0.1)


def with_agents_and_laptop(machines: Any, files: dict[str, str], folder: Path) -> tuple[Any, Any]:
    """A server, a services-mode agent for controllers ("ctl"), one for steps ("gpu"), and a
    laptop holding `files` (name -> text) in its working folder."""
    server = machines.server()
    machines.agent("ctl", queues=["services"], services=2)
    machines.agent("gpu", queues=["default"])
    laptop = machines.client("laptop")
    for name, text in files.items():
        (folder / name).write_text(text)
        laptop.copy(folder / name)
    return server, laptop


def check_job(seen: dict[str, Any], step_id: str) -> None:
    assert seen["task_id"] == seen["task"] == step_id
    assert seen["status"] == "completed" and seen["completed"] is True and seen["cached"] is False
    assert seen["metric"] == [0.4, 0.9, 0.6] and seen["missing"] is None
    assert seen["iterations"] == 2
    assert "trained on 4" in seen["console"]
    assert str(seen["worker"]).startswith("gpu"), seen["worker"]  # the step ran on the other agent
    assert seen["elapsed"] >= 0


SLOW_PIPELINE = """
from ductwork import PipelineController


def slow(x):
    import time

    print("slow started", flush=True)
    time.sleep(90)
    return x


pipe = PipelineController(name="stopped remotely", project="remote create")
pipe.set_default_execution_queue("default")
pipe.add_function_step("slow", slow, function_kwargs={"x": 1}, function_return=["y"])
pipe.start(queue="services")
"""

# argv: the run's id. The laptop stops the running step through its job, as a callback would.
ABORT = """
import sys

from ductwork import PipelineController

job = PipelineController.get(pipeline_id=sys.argv[1]).get_pipeline_dag()["slow"].job
assert job is not None and job.is_running(), job
assert job.wait(timeout=0.01, pool_period=0.2) is False  # still running after 0.6 s
job.abort()
print(job.status())
"""


def test_a_remote_step_stopped_through_its_job_says_why(machines: Any, tmp_path: Path) -> None:
    server, laptop = with_agents_and_laptop(machines, {"slow.py": SLOW_PIPELINE}, tmp_path)
    run_id = laptop.run(CREATE, "stopped remotely", "slow.py", "1.0.0").strip().splitlines()[-1]
    deadline = time.monotonic() + 120
    while server.steps(run_id).get("slow") is None or server.steps(run_id)["slow"].status != "in_progress":
        assert time.monotonic() < deadline, server.steps(run_id)
        time.sleep(0.1)

    assert laptop.run(ABORT, run_id).strip().splitlines()[-1] == "stopped"
    done = server.wait_final(run_id, timeout=150)

    assert done.status == "failed"  # the step failed the run: it did not run its 90 s
    assert server.steps(run_id)["slow"].status == "stopped"
    [node] = server.api.get_nodes(run_id)
    assert node.status == "aborted"
    assert "stopped from outside" in node.message, repr(node.message)
