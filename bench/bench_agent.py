"""Agent benchmark: tiny-task throughput through 4 agents, dispatch latency, uv environment reuse.

    python bench/bench_agent.py [--tasks 1000] [--rounds 2] [--before COMMIT] [--skip latency,uv]

1. Throughput (issue 14): N tiny script tasks (`TINY`) created, then enqueued and run through 4
   `--same-env` agents, against a server and on the embedded SQLite store: tasks/s from the
   first enqueue to the last task's final status. Floor: the same N tasks as bare `python -c`
   processes, 4 at a time. Beside it: Ray running the same N tasks on this machine (when `ray`
   is importable), in a network namespace with only loopback. Also one `enqueue` call while the
   4 agents long-poll (ms). Each run is a process of its own whose server, agents and client
   all come from one source tree; with `--before COMMIT` that commit's tree is measured too,
   alternating with this one round by round (the machine's load drifts; alternation shares it).
   Beside each rate: CPU ms a task of every process (client, server, agents, fork servers with
   their children; floor: the `python -c` processes), which the shared machine's load moves
   far less than wall time; 200 tasks/s on 2 cores needs <= 10 ms.
2. Enqueue -> task running, with one warm `--same-env` agent through a server (long-poll
   claim). Floor: starting the same interpreter until its first statement runs.
3. A chain of function steps: parent step finished -> child's function running.
4. A fresh uv environment vs a reused one (floor: a bare `uv venv`).

Run as a user's machine runs: bytecode is written (PYTHONDONTWRITEBYTECODE unset) and every
source tree is byte-compiled once before anything is measured.
"""

from __future__ import annotations

import argparse
import compileall
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_server
from bench_server import SRC, percentile, start_server

# The tiny task: a script task whose code prints one line (so its console travels too).
TINY = 'print("tiny", 1 + 1)\n'
AGENTS = 4
ENQUEUE_BATCH = 250  # tasks per enqueue_many call, where the API has it
ONE_BY_ONE = 30  # single enqueue calls timed while the agents long-poll
RESULT = "RESULT "

STAMP = (
    "import time, os\n"
    "open(os.environ['STAMP_FILE'] + os.environ.get('DUCTWORK_TASK_ID', ''), 'w').write(repr(time.time()))\n"
)


# -- 1. throughput ---------------------------------------------------------------------------


def agent_env(home: Path, src: str, store: str, url: str = "", key: str = "") -> dict[str, str]:
    env = {**os.environ, "DUCTWORK_HOME": str(home), "PYTHONPATH": src, "STAMP_FILE": str(home / "stamp-")}
    if url:
        env.update({"DUCTWORK_API_URL": url, "DUCTWORK_API_KEY": key})
    else:
        env["DUCTWORK_DB_URL"] = store
        env.pop("DUCTWORK_API_URL", None)
    return env


def start_agents(env: dict[str, str], count: int, first: int = 0) -> list[subprocess.Popen[bytes]]:
    log = open(Path(env["DUCTWORK_HOME"]) / "agents.log", "ab")  # outlives this call: the agents write to it
    argv = [sys.executable, "-m", "ductwork.agent", "--queue", "bench", "--same-env"]
    return [
        subprocess.Popen([*argv, "--name", f"bench{n}"], env=env, stdout=log, stderr=log)
        for n in range(first, first + count)
    ]


def stop_agents(agents: list[subprocess.Popen[bytes]]) -> None:
    for agent in agents:
        agent.terminate()
    for agent in agents:
        try:
            agent.wait(15)
        except subprocess.TimeoutExpired:
            agent.kill()


def wait_workers(backend: Any, count: int) -> None:
    deadline = time.monotonic() + 60
    while len(backend.list_workers()) < count:
        if time.monotonic() > deadline:
            raise RuntimeError("the agents did not register")
        time.sleep(0.05)


def wait_settled(backend: Any, ids: list[str]) -> int:
    """Wait until no task is queued or running (the bench's are the only ones); answers how
    many of `ids` failed. The poll is one indexed count: it must not load the server itself."""
    from ductwork.core.queries import TaskQuery

    busy = TaskQuery(status=["queued", "in_progress"], archived=None)
    deadline = time.monotonic() + 600
    while backend.count_tasks(busy):
        if time.monotonic() > deadline:
            raise RuntimeError("the tasks did not all end within 10 minutes")
        time.sleep(0.02)
    return int(backend.count_tasks(TaskQuery(ids=ids, status=["failed"], archived=None)))


def create_tasks(backend: Any, count: int, prefix: str) -> list[str]:
    from ductwork.core.records import TaskRecord

    return [
        backend.create_task(TaskRecord(name=f"{prefix}{n}", script={"code": TINY})).id for n in range(count)
    ]


def enqueue_all(backend: Any, ids: list[str]) -> None:
    many = getattr(backend, "enqueue_many", None)
    if many is None:
        for task_id in ids:
            backend.enqueue(task_id, "bench")
        return
    for at in range(0, len(ids), ENQUEUE_BATCH):
        many(ids[at : at + ENQUEUE_BATCH], "bench")


def one_enqueue(backend: Any, count: int) -> list[float]:
    """Single enqueue calls, each made while every agent is idle in its long poll."""
    times = []
    for task_id in create_tasks(backend, count, "one"):
        time.sleep(0.05)  # the agents are back in their claim
        started = time.perf_counter()
        backend.enqueue(task_id, "bench")
        times.append(time.perf_counter() - started)
        wait_settled(backend, [task_id])
    return times


def measure_phase(where: str, src: str, count: int) -> dict[str, float]:
    """One throughput run (this process's `ductwork` is `src`'s): server or embedded store."""
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        store_url = f"sqlite:///{home / 'ductwork.db'}"
        server = None
        if where == "server":
            bench_server.SRC = src  # the server process runs this tree too
            server, url, key = start_server(home)
            from ductwork.client.http import HttpBackend

            backend: Any = HttpBackend(url, key)
            env = agent_env(home, src, store_url, url, key)
        else:
            from ductwork.store import Store

            backend = Store(store_url)
            env = agent_env(home, src, store_url)
        agents: list[subprocess.Popen[bytes]] = []
        try:
            backend.ensure_queue("bench")
            agents = start_agents(env, AGENTS)
            wait_workers(backend, AGENTS)
            warm = create_tasks(backend, AGENTS * 2, "warm")  # fork servers up, connections open
            enqueue_all(backend, warm)
            wait_settled(backend, warm)
            ids = create_tasks(backend, count, "tiny")
            cpu_before = cpu_by_kind()
            started = time.perf_counter()
            enqueue_all(backend, ids)
            enqueued = time.perf_counter() - started
            failed = wait_settled(backend, ids)
            elapsed = time.perf_counter() - started
            cpu = {k: (v - cpu_before.get(k, 0.0)) / count * 1e3 for k, v in cpu_by_kind().items()}
            single = one_enqueue(backend, ONE_BY_ONE) if where == "server" else [0.0]
        finally:
            stop_agents(agents)
            if server is not None:
                server.terminate()
                server.wait(10)
        return {
            **{f"cpu_{kind}": ms for kind, ms in cpu.items()},
            "rate": count / elapsed,
            "enqueue_ms": enqueued / count * 1e3,
            "one_enqueue_ms": statistics.median(single) * 1e3,
            "failed": failed,
        }


def cpu_by_kind() -> dict[str, float]:
    """CPU seconds (user + system) so far of this process and each kind of process under it:
    the server, the agents, their fork servers with the children they reaped (Linux /proc;
    nothing elsewhere). Steadier than wall time on a shared machine."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    children: dict[int, list[tuple[int, str, list[int]]]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(
            (int(entry.name), command, [int(x) for x in fields[11:15]])
        )
    mine = os.times()
    kinds = {"client": mine.user + mine.system}
    below = [os.getpid()]
    while below:
        for pid, command, (utime, stime, cutime, cstime) in children.get(below.pop(), []):
            below.append(pid)
            kind = next((k for k, word in _KINDS if word in command), "other")
            reaped = cutime + cstime if kind == "forked" else 0  # its children ended under it
            kinds[kind] = kinds.get(kind, 0.0) + (utime + stime + reaped) / tick
    return kinds


# Which process is which, by a word of its command line.
_KINDS = (("forked", "ductwork.process.forkserver"), ("agents", "ductwork.agent"), ("server", "uvicorn"))


def floor_rate(count: int) -> tuple[float, float]:
    """The same tiny tasks as bare `python -c` processes, 4 at a time: tasks/s, and CPU ms a
    task (the processes' own, as reaped)."""

    def run(_: int) -> None:
        subprocess.run([sys.executable, "-c", TINY], check=True, capture_output=True)

    before = os.times()
    started = time.perf_counter()
    with ThreadPoolExecutor(AGENTS) as pool:
        list(pool.map(run, range(count)))
    elapsed = time.perf_counter() - started
    after = os.times()
    reaped = (after.children_user + after.children_system) - (before.children_user + before.children_system)
    return count / elapsed, reaped / count * 1e3


def ray_phase(count: int) -> dict[str, float]:
    """Ray running the same tiny tasks on a local one-node cluster (4 CPUs), after its start."""
    import ray

    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        ray.init(
            num_cpus=AGENTS,
            include_dashboard=False,
            _temp_dir=str(Path(folder) / "ray"),
            logging_level=logging.ERROR,
            log_to_driver=False,
        )
        up = time.perf_counter() - started

        @ray.remote
        def tiny(code: str) -> int:
            exec(compile(code, "<task>", "exec"), {"__name__": "__main__"})
            return 0

        try:
            ray.get([tiny.remote(TINY) for _ in range(AGENTS * 2)])
            started = time.perf_counter()
            ray.get([tiny.remote(TINY) for _ in range(count)])
            elapsed = time.perf_counter() - started
        finally:
            ray.shutdown()
    return {"rate": count / elapsed, "init_s": up}


def ray_rate(count: int) -> dict[str, float] | None:
    """`ray_phase` in a network namespace with only loopback (no traffic leaves the machine:
    Ray looks for a public DNS server and the cloud metadata address at start)."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return None
    if not shutil.which("unshare") or not shutil.which("ip"):
        print("  (Ray skipped: no `unshare`/`ip` to give it a loopback-only network)")
        return None
    me = [sys.executable, __file__, "--phase", "ray", "--tasks", str(count)]
    script = "ip link set lo up && exec " + " ".join(f"'{part}'" for part in me)
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_DISABLE_DOCKER_CPU_WARNING": "1"}
    done = subprocess.run(["unshare", "-n", "sh", "-c", script], env=env, capture_output=True, text=True)
    return result_of(done, "ray")


def result_of(done: subprocess.CompletedProcess[str], what: str) -> dict[str, float]:
    for line in done.stdout.splitlines():
        if line.startswith(RESULT):
            parsed: dict[str, float] = json.loads(line[len(RESULT) :])
            return parsed
    raise RuntimeError(f"the {what} run failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")


def cpu_line(got: dict[str, float]) -> str:
    """CPU ms per task, all processes, and each kind's share (200 tasks/s on 2 cores: <= 10)."""
    parts = {k[4:]: v for k, v in got.items() if k.startswith("cpu_")}
    shares = "  ".join(f"{kind} {ms:.2f}" for kind, ms in sorted(parts.items()))
    return f"CPU {sum(parts.values()):5.2f} ms a task ({shares})"


def phase(where: str, src: str, count: int) -> dict[str, float]:
    argv = [sys.executable, __file__, "--phase", where, "--src", src, "--tasks", str(count)]
    done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": src})
    return result_of(done, f"{where} ({src})")


def throughput(count: int, rounds: int, before: str | None) -> None:
    trees = [("before", before), ("after", SRC)] if before else [("this tree", SRC)]
    print(f"{count} tiny tasks through {AGENTS} --same-env agents (tasks/s; floor: the same tasks as bare")
    print(f"`python -c` processes, {AGENTS} at a time; ray: the same tasks as Ray tasks, {AGENTS} CPUs)")
    seen: dict[str, list[float]] = {}
    for n in range(rounds):
        floor, floor_cpu = floor_rate(count)
        print(f"round {n + 1}: floor {floor:7.1f}/s, CPU {floor_cpu:5.2f} ms a task")
        for where in ("server", "embedded"):
            for label, src in trees:
                assert src is not None
                got = phase(where, src, count)
                seen.setdefault(f"{where} {label}", []).append(got["rate"] / floor)
                single = f"   one enqueue {got['one_enqueue_ms']:5.1f} ms" if where == "server" else ""
                print(
                    f"  {where:<8} {label:<9} {got['rate']:7.1f} tasks/s   floor {floor:7.1f}/s"
                    f"   ratio {got['rate'] / floor:5.2f}x   enqueue {got['enqueue_ms']:5.2f} ms a task"
                    f"{single}   failed {got['failed']:.0f}"
                )
                print(f"{'':21}{cpu_line(got)}")
        ray = ray_rate(count)
        if ray is not None:
            print(
                f"  ray                {ray['rate']:7.1f} tasks/s   floor {floor:7.1f}/s"
                f"   ratio {ray['rate'] / floor:5.2f}x   (ray.init {ray['init_s']:.1f} s, not counted)"
            )
    for name, ratios in seen.items():
        print(f"  median ratio to floor, {name}: {statistics.median(ratios):5.2f}x")


# -- 2-3. latency ----------------------------------------------------------------------------


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


def parent_to_child(url: str, key: str, home: Path) -> tuple[list[float], list[float]]:
    """A chain of CHAIN function steps, controller here (`start_locally()`), steps on the agent:
    for each step, from its parent's end (task `ended`) to its own function running; and the
    share of it until an agent claimed the child."""
    os.environ.update({"DUCTWORK_API_URL": url, "DUCTWORK_API_KEY": key, "DUCTWORK_HOME": str(home)})
    from ductwork import PipelineController
    from ductwork.client import backend as current_backend
    from ductwork.core.queries import TaskQuery

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
    return gaps, to_claim


def interpreter_floor(count: int, home: Path) -> list[float]:
    env = {**os.environ, "STAMP_FILE": str(home / "floor-")}
    latencies = []
    for n in range(count):
        started = time.time()
        subprocess.run([sys.executable, "-c", STAMP], env={**env, "DUCTWORK_TASK_ID": str(n)}, check=True)
        latencies.append(float((home / f"floor-{n}").read_text()) - started)
    return latencies


def latency(count: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        server, url, key = start_server(home)
        agents: list[subprocess.Popen[bytes]] = []
        try:
            from ductwork.client.http import HttpBackend

            HttpBackend(url, key).ensure_queue("bench")
            agents = start_agents(agent_env(home, SRC, "", url, key), 1)
            wait_workers(HttpBackend(url, key), 1)
            lat = dispatch_latency(url, key, home, count)
            floor = interpreter_floor(count, home)
            p50, p99, f50, f99 = (percentile(v, q) for v in (lat, floor) for q in (0.5, 0.99))
            print(f"enqueue -> task running (warm --same-env agent, via server, {count} tasks)")
            print(
                f"  p50 {p50 * 1e3:7.1f} ms   p99 {p99 * 1e3:7.1f} ms   floor (interpreter start) "
                f"p50 {f50 * 1e3:6.1f} ms p99 {f99 * 1e3:6.1f} ms"
                f"   ratio {p50 / f50:4.2f}x / {p99 / f99:4.2f}x   overhead p50 {(p50 - f50) * 1e3:+.1f} ms"
            )
            gaps, to_claim = parent_to_child(url, key, home)
            g50, g99, c50 = percentile(gaps, 0.5), percentile(gaps, 0.99), percentile(to_claim, 0.5)
            print(
                f"parent step finished -> child step's function running ({CHAIN}-step chain, start_locally())"
            )
            print(
                f"  p50 {g50 * 1e3:7.1f} ms   p99 {g99 * 1e3:7.1f} ms   floor (interpreter start) "
                f"p50 {f50 * 1e3:6.1f} ms   ratio {g50 / f50:4.2f}x   (targets: p50 < 50 ms, p99 < 250 ms)"
            )
            print(
                f"  of which: parent ended -> child claimed p50 {c50 * 1e3:6.1f} ms (controller sees the end,"
                f" creates and enqueues the child, an agent claims it); claimed -> function running"
                f" p50 {(g50 - c50) * 1e3:6.1f} ms (agent start + step runner)"
            )
        finally:
            stop_agents(agents)
            server.terminate()
            server.wait(10)


# -- 4. uv environments ----------------------------------------------------------------------


def uv_envs() -> None:
    from ductwork.agent import environment

    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
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
    print(
        f"uv environment: fresh {fresh * 1e3:7.1f} ms   reused {reused * 1e3:6.2f} ms   "
        f"floor (bare `uv venv`) {bare * 1e3:7.1f} ms   fresh/floor {fresh / bare:4.2f}x   "
        f"reuse saves {(fresh - reused) * 1e3:.0f} ms a task"
    )


# -- main ------------------------------------------------------------------------------------


def tree_of(commit: str, into: Path) -> str:
    """The `src` folder of `commit`, unpacked under `into` (git archive: no worktree touched)."""
    repo = Path(SRC).parent
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", commit, "src"], check=True, capture_output=True
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return str(into / "src")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--before", default=None, help="a commit to measure alternately with this tree")
    parser.add_argument("--latency-tasks", type=int, default=40)
    parser.add_argument("--skip", default="", help="comma-separated: throughput,latency,uv")
    parser.add_argument("--phase", default=None, help=argparse.SUPPRESS)  # one run, in a child
    parser.add_argument("--src", default=SRC, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase == "ray":
        print(RESULT + json.dumps(ray_phase(args.tasks)), flush=True)
        return
    if args.phase:
        sys.path.insert(0, args.src)  # the tree under test, before anything imports ductwork
        print(RESULT + json.dumps(measure_phase(args.phase, args.src, args.tasks)), flush=True)
        return
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # as on a user's machine
    skip = set(args.skip.split(","))
    with tempfile.TemporaryDirectory() as folder:
        before = tree_of(args.before, Path(folder)) if args.before else None
        for tree in filter(None, (SRC, before)):
            compileall.compile_dir(tree, quiet=1)
        if "throughput" not in skip:
            throughput(args.tasks, args.rounds, before)
    if "latency" not in skip:
        latency(args.latency_tasks)
    if "uv" not in skip:
        uv_envs()


if __name__ == "__main__":
    main()
