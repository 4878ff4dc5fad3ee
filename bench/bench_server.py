"""Server benchmark: API latency of the hottest calls under 50 concurrent clients.

    python bench/bench_server.py [--clients 50] [--calls 40]

Each client is a thread with its own pooled `HttpBackend`; the server is `ductwork server`'s
app in its own process over a fresh SQLite store. Floor: `GET /api/health` under the same
load (HTTP + framework + auth, no store work); the ratio says what the store work adds.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SRC = str(Path(__file__).resolve().parents[1] / "src")
sys.path.insert(0, SRC)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(home: Path, db_url: str | None = None) -> tuple[subprocess.Popen[bytes], str, str]:
    """`ductwork server`'s app in a subprocess over a fresh store (SQLite under `home`, or the
    given, empty, database); answers (process, url, key)."""
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
    process = subprocess.Popen([sys.executable, "-c", code], env=env)
    base = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/api/health").status_code == 200:
                return process, base, key
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the benchmark server did not start")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def under_load(
    clients: int, calls: int, make: Callable[[Any, int], Callable[[], None]], url: str, key: str
) -> list[float]:
    """Latencies (s) of `calls` calls by each of `clients` threads started together."""
    from ductwork.client.http import HttpBackend

    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients)

    def client(n: int) -> None:
        backend = HttpBackend(url, key)
        call = make(backend, n)
        call()  # warm the connection
        barrier.wait()
        mine = []
        for _ in range(calls):
            started = time.perf_counter()
            call()
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)
        backend.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--db-url", default=None, help="an empty PostgreSQL database (default: SQLite)")
    args = parser.parse_args()
    from ductwork.client.http import HttpBackend
    from ductwork.core.records import ConsoleLine, TaskRecord, Worker

    with tempfile.TemporaryDirectory() as folder:
        process, url, key = start_server(Path(folder), args.db_url)
        try:
            setup = HttpBackend(url, key)
            tasks = [setup.create_task(TaskRecord(name=f"t{n}")).id for n in range(args.clients)]
            for n in range(args.clients):
                setup.register_worker(Worker(id=f"w{n}"))

            def floor(backend: Any, n: int) -> Callable[[], None]:
                return lambda: backend._call("GET", "/api/health")

            cases: dict[str, Callable[[Any, int], Callable[[], None]]] = {
                "get_task": lambda b, n: lambda: b.get_task(tasks[n]),
                "heartbeat": lambda b, n: lambda: b.heartbeat(f"w{n}", tasks[n]),
                "add_console (10 lines)": lambda b, n: (
                    lambda: b.add_console([ConsoleLine(tasks[n], f"line {i}") for i in range(10)])
                ),
                "edit_task (progress)": lambda b, n: lambda: b.edit_task(tasks[n], {"progress": 50}),
            }
            base = under_load(args.clients, args.calls, floor, url, key)
            b50, b99 = percentile(base, 0.5), percentile(base, 0.99)
            where = "PostgreSQL" if args.db_url else "SQLite"
            print(
                f"{args.clients} concurrent clients x {args.calls} calls, server in its own process, {where}"
            )
            print(
                f"{'call':<24} {'p50 ms':>8} {'p99 ms':>8}   floor p50/p99 ms (GET /api/health) ratio p50/p99"
            )
            for name, make in cases.items():
                lat = under_load(args.clients, args.calls, make, url, key)
                p50, p99 = percentile(lat, 0.5), percentile(lat, 0.99)
                print(
                    f"{name:<24} {p50 * 1e3:8.2f} {p99 * 1e3:8.2f}   {b50 * 1e3:8.2f} / {b99 * 1e3:8.2f}"
                    f"                {p50 / b50:5.2f}x / {p99 / b99:5.2f}x"
                )
            print(f"(median of all: {statistics.median(base) * 1e3:.2f} ms floor)")
            setup.close()
        finally:
            process.terminate()
            process.wait(10)


if __name__ == "__main__":
    main()
