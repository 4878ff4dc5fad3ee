"""A ductwork server, a Ray cluster and a Ray agent, inside a network namespace of loopback only.

    unshare -n -p -f --mount-proc -- bash -c 'ip link set lo up && exec python scenario.py OUT'

Run by test_ray_cluster.py; writes what happened as JSON to OUT for the test to assert on.
Every process is a machine of its own (tests/machines.py: its home, working and temp folders),
except the Ray agent, which runs on the Ray head's machine (a Ray driver connects to the raylet
of its own machine, through the head's temp folder). Nodes: the head (127.0.0.1, one CPU) and
`ray-w1` (127.0.0.2, one CPU) from the start; `ray-w2` (127.0.0.3, resource `special`) joins
only once the `special` step says it waits for it. The new pid namespace ends every process
when this script ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from machines import TIMEOUT, Machine, Machines, Server  # noqa: E402

HEAD_IP = "127.0.0.1"
HEAD = f"{HEAD_IP}:6379"
RAY = str(Path(sys.executable).with_name("ray")) if Path(sys.executable).with_name("ray").exists() else "ray"
SLOTS = 4


def main(out: Path) -> None:
    # Short paths: a Ray node's unix sockets live under its temp folder (108 bytes at most).
    base = Path(tempfile.mkdtemp(prefix="dwr-", dir="/tmp"))
    result: dict[str, Any] = {}
    try:
        with Machines(base) as machines:
            run(machines, result)
    except BaseException as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        result["logs"] = _logs(base)  # shown by the test when an assertion fails
        out.write_text(json.dumps(result, indent=1))
        shutil.rmtree(base, ignore_errors=True)


def run(machines: Machines, result: dict[str, Any]) -> None:
    began = time.monotonic()
    # The server starts while the head comes up (seconds); worker node ray-w1 once the head is
    # up, joining while the agent and the first tasks start (they run wherever there is room).
    head = ray_node(machines, "ray-head", "--head", "--port=6379", "--include-dashboard=false", ip=HEAD_IP)
    server = machines.server()
    w1 = ray_node(machines, "ray-w1", f"--address={HEAD}", ip="127.0.0.2", after=head)
    agent = ray_agent(server, head)
    result["seconds"] = {"cluster up": round(time.monotonic() - began, 1)}
    laptop = machines.client("laptop")

    fanout = laptop.start([sys.executable, str(laptop.copy(HERE / "fanout_pipeline.py"))], "fanout.log")
    special = wait_for_step(server, "ray fan-out", "special", "no node of the Ray cluster has")
    result["special_while_waiting"] = {"status": special.status, "console": console(server, special.id)}
    w2 = ready(ray_node(machines, "ray-w2", f"--address={HEAD}", ip="127.0.0.3", resources='{"special": 1}'))
    fanout.wait(TIMEOUT)
    ready(w1)
    result["fanout"] = describe_run(server, "ray fan-out", laptop.log("fanout.log"))
    result["seconds"]["fan-out done"] = round(time.monotonic() - began, 1)

    aborting = laptop.start([sys.executable, str(laptop.copy(HERE / "abort_pipeline.py"))], "abort.log")
    sleeper = wait_for_step(server, "ray abort", "sleeper", "sleeper pid=")
    pid = int(re.findall(r"sleeper pid=(\d+)", "\n".join(console(server, sleeper.id)))[0])
    result["sleeper_alive_before"] = _alive(pid)
    server.api.abort_task(sleeper.id)
    stopped = server.wait_final(sleeper.id)
    deadline = time.monotonic() + TIMEOUT
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    aborting.wait(TIMEOUT)
    idle(server, sleeper.id)  # the agent has sent the task's last console lines
    result["abort"] = {
        "status": stopped.status,
        "process_alive_after": _alive(pid),
        "console": console(server, sleeper.id),
    }
    result["seconds"]["abort done"] = round(time.monotonic() - began, 1)
    result["lost"] = lose_a_node(server, w2)
    result["seconds"]["lost node done"] = round(time.monotonic() - began, 1)
    # The agent before the server (machines stop in the reverse order of their start).
    agent.terminate()
    agent.wait(TIMEOUT)
    # Nothing of the cluster is kept: no graceful drain of each node (seconds apiece).
    for node in (w1, head):
        kill_machine(node)


DOOMED = """
import os, time
print(f"doomed pid={os.getpid()}", flush=True)
while True:
    time.sleep(0.2)
"""


def lose_a_node(server: Server, node: Machine) -> dict[str, Any]:
    """A task with one retry left runs on the only node with `special` (ray-w2), which is then
    killed outright (every process of it, SIGKILL, as a machine lost): the task fails as a lost
    agent's and goes back on its queue, where it waits for a node with `special` again."""
    from ductwork.core.records import TaskRecord

    task = server.api.create_task(
        TaskRecord(
            name="doomed",
            script={"code": DOOMED, "entry_point": "doomed.py"},
            runtime={"resources": {"special": 1}, "retries_left": 1},
        )
    )
    server.api.enqueue(task.id, "ray")
    wait_for_console(server, task.id, "doomed pid=")
    killed = kill_machine(node)
    # Back on its queue, claimed again, and waiting: no live node has `special` any more.
    lines = wait_for_console(server, task.id, "waiting for Ray resources", after="was lost")
    found = server.api.get_task(task.id)
    server.api.abort_task(task.id)  # it would wait for a node with `special` for ever
    aborted = server.wait_final(task.id)
    idle(server, task.id)
    return {
        "killed": killed,
        "status": found.status,
        "retries_left": found.runtime.get("retries_left"),
        "console": lines,
        "aborted while waiting": {"status": aborted.status, "console": console(server, task.id)},
    }


def kill_machine(machine: Machine) -> int:
    """SIGKILL every process of `machine` (those in its mount namespace: `ray start`, the
    raylet, Ray's workers and the task), as when a machine is lost."""
    namespace = os.readlink(f"/proc/{machine.processes[0].pid}/ns/mnt")
    killed = 0
    for proc in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if proc.name.isdigit() and os.readlink(proc / "ns" / "mnt") == namespace:
                os.kill(int(proc.name), signal.SIGKILL)
                killed += 1
    return killed


def wait_for_console(server: Server, task_id: str, text: str, after: str = "") -> list[str]:
    """Task `task_id`'s console once it holds `text` (after a line holding `after`)."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        lines = console(server, task_id)
        start = next((i for i, line in enumerate(lines) if after in line), None) if after else 0
        if start is not None and any(text in line for line in lines[start:]):
            return lines
        time.sleep(0.2)
    raise AssertionError(f"task {task_id} never said {text!r}:\n" + "\n".join(console(server, task_id)))


def ray_node(
    machines: Machines, name: str, *args: str, ip: str, resources: str = "{}", after: Machine | None = None
) -> Machine:
    """`ray start --block` on a new machine (its own home and temp folder); a worker node
    starts `after` the head is up (it must find the head's GCS at once)."""
    if after is not None:
        ready(after)
    machine = machines.machine(name, RAY_USAGE_STATS_ENABLED="0")
    argv = [RAY, "start", "--block", *args, f"--node-ip-address={ip}", "--num-cpus=1"]
    argv += ["--disable-usage-stats", f"--temp-dir={machine.root / 'ray'}"]
    argv += [f"--resources={resources}", "--object-store-memory=100000000"]
    machine.start(argv, "ray.log")
    return machine


def ready(node: Machine) -> Machine:
    """`node` once its `ray start` says the node is up."""
    deadline = time.monotonic() + TIMEOUT
    while "Ray runtime started" not in node.log("ray.log"):
        if node.processes[-1].poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"Ray node {node.name} did not start:\n{node.log('ray.log')}")
        time.sleep(0.1)
    return node


def ray_agent(server: Server, head: Machine) -> subprocess.Popen[bytes]:
    """`ductwork agent --ray` on the head's machine, queue `ray` asking one CPU a task."""
    argv = [sys.executable, "-m", "ductwork", "agent", "--ray", HEAD, "--name", "ray-agent"]
    argv += ["--queue", "ray", "--resources", 'ray={"CPU": 1}', "--services-mode", str(SLOTS)]
    process = head.start(argv, "agent.log", DUCTWORK_API_URL=server.url, DUCTWORK_API_KEY=server.agent_key)
    deadline = time.monotonic() + TIMEOUT
    while len(server.workers("ray-agent")) < SLOTS:
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the Ray agent did not start:\n{head.log('agent.log')}")
        time.sleep(0.1)
    return process


def idle(server: Server, task_id: str) -> None:
    """Once no slot of the Ray agent runs `task_id` (it has settled it)."""
    deadline = time.monotonic() + TIMEOUT
    while any(w.task_id == task_id for w in server.workers("ray-agent")):
        if time.monotonic() > deadline:
            raise AssertionError(f"the Ray agent still runs task {task_id}")
        time.sleep(0.1)


def wait_for_step(server: Server, run_name: str, step: str, text: str) -> Any:
    """Step `step` of the newest run `run_name` once its console holds `text`."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            found = server.steps(server.controller(run_name).id).get(step)
        except AssertionError:  # the run is not there yet
            found = None
        if found is not None and any(text in line for line in console(server, found.id)):
            return server.api.get_task(found.id)
        time.sleep(0.2)
    raise AssertionError(f"step {step} of {run_name} never said {text!r}")


def describe_run(server: Server, name: str, log: str) -> dict[str, Any]:
    from ductwork.core.queries import EventQuery

    run = server.wait_final(server.controller(name).id)
    steps = {}
    for step, task in server.steps(run.id).items():
        lines = console(server, task.id)
        nodes = sorted({m for line in lines for m in re.findall(r"started on Ray node (\S+)", line)})
        scalars = [e.value for e in server.api.get_events(EventQuery(task_id=task.id, kind="scalar"))]
        steps[step] = {"status": task.status, "worker": task.worker, "nodes": nodes, "scalars": scalars}
        steps[step]["console"] = lines
    return {"status": run.status, "log": log, "steps": steps}


def console(server: Server, task_id: str) -> list[str]:
    return [line.text for line in server.api.get_console(task_id)]


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _logs(base: Path) -> dict[str, str]:
    """The machines' own logs, tails only, to explain a failure."""
    found = {}
    for path in sorted(base.glob("*/*.log")):
        found[str(path.relative_to(base))] = path.read_text(errors="replace")[-4000:]
    return found


if __name__ == "__main__":
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    main(Path(sys.argv[1]))
