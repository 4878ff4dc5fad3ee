"""Agent benchmark: dispatch latency, throughput, and uv environment reuse.

    python bench/bench_agent.py [--latency-tasks 40] [--tasks 1000]

1. Enqueue -> task process running, with one warm `--same-env` agent through a server
   (long-poll claim). Floor: starting the same interpreter with `subprocess.Popen` until
   its first statement runs.
2. N tiny tasks through 4 agents (tasks/s). Floor: the same N interpreter starts run by 4
   plain worker threads.
3. A fresh uv environment vs a reused one (floor: a bare `uv venv`).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_server import SRC, percentile, start_server

from ductwork.core.queries import TaskQuery

STAMP = (
    "import time, os\n"
    "open(os.environ['STAMP_FILE'] + os.environ.get('DUCTWORK_TASK_ID', ''), 'w').write(repr(time.time()))\n"
)


def start_agents(url: str, key: str, home: Path, count: int) -> list[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "DUCTWORK_API_URL": url,
        "DUCTWORK_API_KEY": key,
        "DUCTWORK_HOME": str(home),
        "PYTHONPATH": SRC,
        "STAMP_FILE": str(home / "stamp-"),
    }
    return [
        subprocess.Popen(
            [sys.executable, "-m", "ductwork.agent", "--queue", "bench", "--same-env", "--name", f"bench{n}"],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        for n in range(count)
    ]


def dispatch_latency(url: str, key: str, home: Path, count: int) -> list[float]:
    from ductwork.client.http import HttpBackend
    from ductwork.core.records import TaskRecord

    backend = HttpBackend(url, key)
    latencies = []
    for n in range(count):
        task = backend.create_task(TaskRecord(name=f"lat{n}", script={"code": STAMP}))
        stamp = home / f"stamp-{task.id}"
        enqueued = time.time()
        backend.enqueue(task.id, "bench")
        while not stamp.exists() or not stamp.read_text():
            time.sleep(0.001)
        latencies.append(float(stamp.read_text()) - enqueued)
        while backend.get_task(task.id).status == "in_progress":
            time.sleep(0.005)
    return latencies


CHAIN = 20


def chain_step(previous: float) -> float:
    import time

    started = time.time()
    print(f"STAMP {started!r}", flush=True)
    return started


def parent_to_child(url: str, key: str, home: Path) -> list[float]:
    """A chain of CHAIN function steps, controller here (`start_locally()`), steps on the agent:
    for each step, from its parent's end (task `ended`) to its own function running."""
    os.environ.update({"DUCTWORK_API_URL": url, "DUCTWORK_API_KEY": key, "DUCTWORK_HOME": str(home)})
    from ductwork import PipelineController
    from ductwork.client import backend as current_backend

    pipe = PipelineController(name="chain", project="bench", version="1.0.0")
    pipe.set_default_execution_queue("bench")
    previous = None
    for n in range(CHAIN):
        name = f"s{n}"
        pipe.add_function_step(
            name,
            chain_step,
            function_kwargs={"previous": f"${{{previous}.t}}" if previous else 0.0},
            function_return=["t"],
        )
        previous = name
    pipe.start_locally()
    backend = current_backend()
    steps = {t.name: t for t in backend.query_tasks(TaskQuery(parent=pipe.id, archived=None))}
    gaps, to_claim = [], []
    for n in range(1, CHAIN):
        parent, child = steps[f"s{n - 1}"], steps[f"s{n}"]
        stamp = next(line.text for line in backend.get_console(child.id) if line.text.startswith("STAMP "))
        gaps.append(float(stamp.split()[1]) - float(parent.ended or 0))
        to_claim.append(float(child.started or 0) - float(parent.ended or 0))
    CLAIM_SHARE.extend(to_claim)
    if os.environ.get("BENCH_VERBOSE"):
        child = steps[f"s{CHAIN // 2}"]
        for line in backend.get_console(child.id):
            print(f"    {line.ts - float(child.started or 0):+.4f} s  {line.stream}: {line.text[:90]}")
    return gaps


CLAIM_SHARE: list[float] = []  # parent ended -> child claimed by an agent (controller + queue)


def interpreter_floor(count: int, home: Path) -> list[float]:
    env = {**os.environ, "STAMP_FILE": str(home / "floor-")}
    latencies = []
    for n in range(count):
        started = time.time()
        subprocess.run([sys.executable, "-c", STAMP], env={**env, "DUCTWORK_TASK_ID": str(n)}, check=True)
        latencies.append(float((home / f"floor-{n}").read_text()) - started)
    return latencies


def throughput(url: str, key: str, count: int) -> float:
    from ductwork.client.http import HttpBackend
    from ductwork.core.records import TaskRecord

    backend = HttpBackend(url, key)
    ids = [backend.create_task(TaskRecord(name=f"tp{n}", script={"code": "pass\n"})).id for n in range(count)]
    started = time.perf_counter()
    for task_id in ids:
        backend.enqueue(task_id, "bench")
    while backend.count_tasks(TaskQuery(ids=ids, status=["completed", "failed"])) < count:
        time.sleep(0.05)
    return count / (time.perf_counter() - started)


def throughput_floor(count: int) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: subprocess.run([sys.executable, "-c", "pass"], check=True), range(count)))
    return count / (time.perf_counter() - started)


def uv_envs(home: Path) -> tuple[float, float, float]:
    sys.path.insert(0, SRC)
    from ductwork.agent import environment

    root = home / "venvs"
    started = time.perf_counter()
    environment.venv_python({"pip": ""}, root, log=lambda _: None)
    fresh = time.perf_counter() - started
    started = time.perf_counter()
    environment.venv_python({"pip": ""}, root, log=lambda _: None)
    reused = time.perf_counter() - started
    uv = shutil.which("uv") or "uv"
    started = time.perf_counter()
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(home / "bare")], check=True)
    bare = time.perf_counter() - started
    return fresh, reused, bare


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency-tasks", type=int, default=40)
    parser.add_argument("--tasks", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        server, url, key = start_server(home)
        agents: list[subprocess.Popen[bytes]] = []
        try:
            from ductwork.client.http import HttpBackend

            HttpBackend(url, key).ensure_queue("bench")
            agents = start_agents(url, key, home, 1)
            time.sleep(1.0)
            lat = dispatch_latency(url, key, home, args.latency_tasks)
            floor = interpreter_floor(args.latency_tasks, home)
            p50, p99, f50, f99 = (
                percentile(lat, 0.5),
                percentile(lat, 0.99),
                percentile(floor, 0.5),
                percentile(floor, 0.99),
            )
            print(f"enqueue -> task running (warm --same-env agent, via server, {args.latency_tasks} tasks)")
            print(
                f"  p50 {p50 * 1e3:7.1f} ms   p99 {p99 * 1e3:7.1f} ms   floor (interpreter start) "
                f"p50 {f50 * 1e3:6.1f} ms p99 {f99 * 1e3:6.1f} ms"
                f"   ratio {p50 / f50:4.2f}x / {p99 / f99:4.2f}x"
                f"   overhead p50 {(p50 - f50) * 1e3:+.1f} ms"
            )
            gaps = parent_to_child(url, key, home)
            g50, g99 = percentile(gaps, 0.5), percentile(gaps, 0.99)
            print(
                f"parent step finished -> child step's function running ({CHAIN}-step chain, start_locally())"
            )
            print(
                f"  p50 {g50 * 1e3:7.1f} ms   p99 {g99 * 1e3:7.1f} ms   floor (interpreter start) "
                f"p50 {f50 * 1e3:6.1f} ms   ratio {g50 / f50:4.2f}x   (targets: p50 < 50 ms, p99 < 250 ms)"
            )
            c50 = percentile(CLAIM_SHARE, 0.5)
            print(
                f"  of which: parent ended -> child claimed p50 {c50 * 1e3:6.1f} ms (controller sees the end,"
                f" creates and enqueues the child, an agent claims it); claimed -> function running"
                f" p50 {(g50 - c50) * 1e3:6.1f} ms (agent start + step runner)"
            )
            agents += start_agents(url, key, home, 3)
            time.sleep(1.0)
            rate = throughput(url, key, args.tasks)
            floor_rate = throughput_floor(args.tasks)
            print(
                f"{args.tasks} tiny tasks through 4 agents: {rate:7.1f} tasks/s   floor (4 threads running "
                f"`python -c pass`): {floor_rate:7.1f}/s   ratio {rate / floor_rate:4.2f}x"
            )
        finally:
            for agent in agents:
                agent.terminate()
            for agent in agents:
                agent.wait(15)
            server.terminate()
            server.wait(10)
        fresh, reused, bare = uv_envs(home)
        print(
            f"uv environment: fresh {fresh * 1e3:7.1f} ms   reused {reused * 1e3:6.2f} ms   "
            f"floor (bare `uv venv`) {bare * 1e3:7.1f} ms   fresh/floor {fresh / bare:4.2f}x   "
            f"reuse saves {(fresh - reused) * 1e3:.0f} ms a task"
        )


if __name__ == "__main__":
    main()
