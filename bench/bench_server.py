"""Server benchmark: API latency under 50 concurrent clients, and the runs list at 10,000 runs.

    python bench/bench_server.py [--clients 50] [--seconds 8] [--runs 10000] [--db-url URL] [--bursty]

The server is `ductwork server`'s app in its own process over a fresh store (SQLite, or the
empty PostgreSQL database given). Three parts, each figure printed beside its goal and ratio
(figure / goal: below 1.0 meets it):

* **mixed load** (the goal: reads p50 < 10 ms, p99 < 50 ms): 50 clients at once, in 5 client
  processes of 10 threads, half of them reading a run's pages (the run page, its live states,
  the controller task) and half writing metrics (10 scalars a call), each client one request
  every `--interval` s (a page that refreshes, an SDK flushing), spread evenly over the
  interval, or with `--bursty` five at a time at ten points of it.
  Floor: `GET /api/health` sent the same way in its own round (HTTP + framework + auth, no
  store work).
* **saturation**: the same 50 clients without pause (each sends its next request when the
  last one answers), so latency is mostly waiting in line: throughput = clients / latency.
  No goal: it says how far the server is from its limit.
* **runs list**: the table of a pipeline with `--runs` runs (Args and last-metric columns),
  one request at a time; goal < 50 ms.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

SRC = str(Path(__file__).resolve().parents[1] / "src")
sys.path.insert(0, SRC)

PROCESSES = 5


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(home: Path, db_url: str | None = None) -> tuple[subprocess.Popen[bytes], str, str]:
    """`ductwork server`'s app in a subprocess over the store (SQLite under `home`, or the given
    database); answers (process, url, key)."""
    from ductwork.store import Store

    url = db_url or f"sqlite:///{home / 'ductwork.db'}"
    store = Store(url)
    store.create_user("bench", password="benchmark", admin=True)
    key = store.create_api_key("bench").token
    store.close()
    port = free_port()
    env = {**os.environ, "DUCTWORK_HOME": str(home), "DUCTWORK_DB_URL": url, "PYTHONPATH": SRC}
    code = (
        "import uvicorn\nfrom ductwork.server.app import create_app\n"
        f"uvicorn.run(create_app({url!r}), host='127.0.0.1', port={port}, log_level='warning',"
        " timeout_graceful_shutdown=3)\n"
    )
    if os.environ.get("BENCH_PROFILE"):  # yappi (CPU time, every thread) over the server process
        code = (
            "import yappi, atexit, signal, sys\nyappi.set_clock_type('cpu')\nyappi.start()\n"
            "atexit.register(lambda: (yappi.stop(), yappi.get_func_stats().save(PROFILE, 'pstat')))\n"
            "signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
        ).replace("PROFILE", repr(os.environ["BENCH_PROFILE"])) + code
    process = subprocess.Popen([sys.executable, "-c", code], env=env)
    base = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/api/health").status_code == 200:
                return process, base, key
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the benchmark server did not start")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- the clients: each a thread, 10 a process ------------------------------------------------------


def _client(spec: dict[str, Any], n: int, out: list[tuple[str, float]]) -> None:
    import httpx

    headers = {"Authorization": f"Bearer {spec['key']}", "Content-Type": "application/json"}
    with httpx.Client(base_url=spec["url"], headers=headers, timeout=60) as http:
        calls = _calls(spec, n)
        for _, method, path, body in calls:  # warm the connection and the server's caches
            http.request(method, path, content=body)
        _BARRIER[0].wait()  # every client warm: all start together
        start = time.time()
        # Each client starts at its own point of the interval, so the load is spread evenly;
        # --bursty: at n % 10 / 10 of it, so five clients at a time fire together (bursts, not
        # a steady rate: what a page refresh timer or an SDK's flush may well do).
        offset = n % 10 / 10 if spec["bursty"] else n / spec["clients"]
        planned = start + spec["interval"] * offset
        k = 0
        while time.time() < start + spec["seconds"]:
            if spec["interval"]:
                pause = planned - time.time()
                if pause > 0:
                    time.sleep(pause)
                planned += spec["interval"]
            label, method, path, body = calls[k % len(calls)]
            k += 1
            started = time.perf_counter()
            answer = http.request(method, path, content=body)
            took = time.perf_counter() - started
            if answer.status_code >= 400:
                raise RuntimeError(f"{method} {path}: {answer.status_code} {answer.text[:200]}")
            out.append((label, took))


def _calls(spec: dict[str, Any], n: int) -> list[tuple[str, str, str, bytes]]:
    import json

    if spec["mode"] == "floor":
        return [("health", "GET", "/api/health", b"")]
    if n % 2 == 0:  # a reader of a run's pages
        run = spec["runs"][n % len(spec["runs"])]
        return [
            ("read: run page", "GET", f"/runs/{run}", b""),
            ("read: run states.json", "GET", f"/runs/{run}/states.json", b""),
            ("read: task (API)", "GET", f"/api/tasks/{run}", b""),
        ]
    task = spec["writers"][n % len(spec["writers"])]
    points = [
        {"task_id": task, "kind": "scalar", "title": "loss", "series": f"s{i}", "iteration": 0, "value": 0.5}
        for i in range(10)
    ]
    return [("write: metrics (10 scalars)", "POST", "/api/metrics", json.dumps(points).encode())]


def _process(spec: dict[str, Any], first: int, count: int, results: Any) -> None:
    out: list[tuple[str, float]] = []
    threads = [threading.Thread(target=_client, args=(spec, first + k, out)) for k in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(out)


_BARRIER: list[Any] = []  # the clients' start line, inherited by the forked client processes


def under_load(spec: dict[str, Any], clients: int, seconds: float) -> dict[str, list[float]]:
    """Latencies (s) by call label, of `clients` clients over `seconds`, in client processes;
    under "cpu", the server's CPU seconds per request over the whole round (warm-up included)."""
    cpu = cpu_seconds(spec["pid"])
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    spec = {**spec, "seconds": seconds, "clients": clients}
    _BARRIER[:] = [context.Barrier(clients)]
    per = -(-clients // PROCESSES)
    processes = [
        context.Process(target=_process, args=(spec, first, min(per, clients - first), results))
        for first in range(0, clients, per)
    ]
    for process in processes:
        process.start()
    found: dict[str, list[float]] = {}
    for _ in processes:
        for label, took in results.get(timeout=seconds + 300):
            found.setdefault(label, []).append(took)
    for process in processes:
        process.join()
    requests = sum(len(t) for t in found.values()) + clients * 4  # and the warm-up calls
    found["cpu"] = [(cpu_seconds(spec["pid"]) - cpu) / requests]
    return found


# --- the store the server reads ----------------------------------------------------------------------


def seed(url: str, key: str, clients: int) -> dict[str, Any]:
    """A pipeline with a few 20-step runs to read, and a task per writer."""
    from ductwork.client.http import HttpBackend
    from ductwork.core.records import NodeState, Param, TaskRecord

    backend = HttpBackend(url, key)
    project = backend.ensure_project("bench/.pipelines/load", system_tags=["pipeline", "hidden"])
    runs = []
    for r in range(5):
        run = backend.create_task(
            TaskRecord(name=f"run {r}", project=project.id, type="controller", system_tags=["pipeline"])
        )
        backend.set_parameters(run.id, {"Args/rate": Param(0.1, "float"), "Args/epochs": Param(3, "int")})
        backend.set_status(run.id, "in_progress", force=True)
        backend.put_nodes([NodeState(run.id, f"step{k}", "running") for k in range(20)])
        runs.append(run.id)
    writers = [backend.create_task(TaskRecord(name=f"writer {n}")).id for n in range(clients)]
    backend.close()
    return {"runs": runs, "writers": writers}


def seed_runs(db_url: str, runs: int) -> str:
    """`runs` runs of one pipeline written straight into the store (Args, scalars, a single
    value each, as a controller records them); the pipeline's project id."""
    from ductwork.core.records import MetricEvent, Param, TaskRecord
    from ductwork.store import Store

    store = Store(db_url)
    project = store.ensure_project("bench/.pipelines/many", system_tags=["pipeline", "hidden"])
    started = time.perf_counter()
    for r in range(runs):
        run = store.create_task(
            TaskRecord(name=f"many {r}", project=project.id, type="controller", system_tags=["pipeline"])
        )
        store.set_parameters(run.id, {"Args/rate": Param(r / runs, "float"), "Args/seed": Param(r, "int")})
        store.add_events(
            [MetricEvent(run.id, "scalar", "loss", "train", i, 1.0 / (1 + i + r)) for i in range(3)]
            + [MetricEvent(run.id, "single", "accuracy", "accuracy", 0, r / runs)]
        )
    print(f"(wrote {runs:,} runs in {time.perf_counter() - started:.0f} s)")
    store.close()
    return project.id


def bench_runs_list(url: str, key: str, project_id: str, runs: int, pid: int, repeat: int = 7) -> None:
    import httpx

    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=120) as http:
        page = http.get(f"/pipelines/{project_id}")
        page.raise_for_status()
        assert "accuracy" in page.text and "loss/train" in page.text, "no metric columns"
        times = []
        cpu = cpu_seconds(pid)
        for _ in range(repeat):
            started = time.perf_counter()
            http.get(f"/pipelines/{project_id}").raise_for_status()
            times.append((time.perf_counter() - started) * 1000)
        cpu = (cpu_seconds(pid) - cpu) / repeat * 1000
        floor = []
        for _ in range(repeat):
            started = time.perf_counter()
            http.get("/api/health")
            floor.append((time.perf_counter() - started) * 1000)
    report(
        f"runs list of {runs:,} runs (median of {repeat})",
        statistics.median(times),
        50,
        statistics.median(floor),
    )
    report("  its server CPU time (all threads, mean)", cpu, 50)


def report(name: str, value_ms: float, goal_ms: float | None, floor_ms: float | None = None) -> None:
    goal = f"goal < {goal_ms:4.0f} ms   ratio {value_ms / goal_ms:5.2f}" if goal_ms else " " * 29
    floor = f"   floor {floor_ms:6.2f} ms ({value_ms / floor_ms:4.1f}x)" if floor_ms else ""
    print(f"  {name:<44} {value_ms:8.2f} ms   {goal}{floor}")


def print_load(title: str, found: dict[str, list[float]], floor: dict[str, list[float]], goals: bool) -> None:
    f50, f99 = percentile(floor["health"], 0.5) * 1e3, percentile(floor["health"], 0.99) * 1e3
    print(title)
    cpu = found.pop("cpu")[0] * 1e3
    report("server CPU per request (all threads)", cpu, None, floor["cpu"][0] * 1e3)
    reads = [t for label, times in found.items() if label.startswith("read") for t in times]
    for label, times in [*sorted(found.items()), ("all reads", reads)]:
        is_read = label.startswith(("read", "all reads"))
        report(
            f"{label} p50 (n={len(times)})",
            percentile(times, 0.5) * 1e3,
            10 if goals and is_read else None,
            f50,
        )
        report(f"{label} p99", percentile(times, 0.99) * 1e3, 50 if goals and is_read else None, f99)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--interval", type=float, default=0.2, help="s between a client's requests")
    parser.add_argument(
        "--bursty", action="store_true", help="clients fire five at a time, not spread over the interval"
    )
    parser.add_argument("--runs", type=int, default=10_000, help="runs in the runs list (0: skip)")
    parser.add_argument("--db-url", default=None, help="an empty PostgreSQL database (default: SQLite)")
    parser.add_argument("--no-saturation", action="store_true")
    parser.add_argument("--runs-only", action="store_true", help="only the runs list")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        db_url = args.db_url or f"sqlite:///{Path(folder) / 'ductwork.db'}"
        process, url, key = start_server(Path(folder), db_url)
        try:
            where = "PostgreSQL" if args.db_url else "SQLite"
            if args.runs_only:
                bench_runs_list(url, key, seed_runs(db_url, args.runs), args.runs, process.pid)
                return
            spec = {"url": url, "key": key, "pid": process.pid, "bursty": args.bursty}
            spec.update(seed(url, key, args.clients))
            rate = args.clients / args.interval
            timing = "bursty (five at a time)" if args.bursty else "spread"
            print(
                f"ductwork server under {args.clients} clients ({timing}), server in its own process, {where}"
            )
            floor = under_load(
                {**spec, "mode": "floor", "interval": args.interval}, args.clients, args.seconds
            )
            found = under_load(
                {**spec, "mode": "mixed", "interval": args.interval}, args.clients, args.seconds
            )
            every = f"{args.interval * 1000:.0f} ms ({rate:.0f} requests/s)"
            title = f"mixed load: each client a request every {every}"
            print_load(title, found, floor, goals=True)
            if not args.no_saturation:
                floor = under_load({**spec, "mode": "floor", "interval": 0}, args.clients, args.seconds / 2)
                found = under_load({**spec, "mode": "mixed", "interval": 0}, args.clients, args.seconds / 2)
                done = sum(len(t) for k, t in found.items() if k != "cpu") / (args.seconds / 2)
                title = f"saturation: no pause between requests ({done:.0f} requests/s answered)"
                print_load(title, found, floor, goals=False)
            if args.runs:
                project_id = seed_runs(db_url, args.runs)
                bench_runs_list(url, key, project_id, args.runs, process.pid)
        finally:
            process.terminate()
            process.wait(30)


if __name__ == "__main__":
    main()
