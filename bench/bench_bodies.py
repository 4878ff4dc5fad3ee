"""A large JSON body through the server's app: POST /api/metrics of 5,000 scalar events.

    python bench/bench_bodies.py [--posts 60] [--events 5000]

The app (`create_app`, no auth) over a SQLite store in a temporary folder, called in process
through `TestClient`, so the figure is the whole request: bounds (`limits.walk`), the strict
JSON type check (`jsontypes`), FastAPI's validation of the body (skipped for a `Checked` body:
it takes the strict pass's value) and the write. Wall and CPU time of this process (client and
server both run in it), median and minimum of `--posts` requests after three warm-ups.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import warnings
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--posts", type=int, default=60)
    parser.add_argument("--events", type=int, default=5000)
    args = parser.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette's notice about httpx
        from fastapi.testclient import TestClient

    from ductwork.core.records import TaskRecord
    from ductwork.server.app import create_app
    from ductwork.store import Store

    with tempfile.TemporaryDirectory() as folder:
        store = Store(f"sqlite:///{Path(folder) / 'ductwork.db'}")
        task = store.create_task(TaskRecord(name="bodies"))
        events = [
            {"task_id": task.id, "kind": "scalar", "title": "loss", "series": f"s{i % 10}", "iteration": i,
             "value": i * 0.5, "ts": 1.7e9 + i}
            for i in range(args.events)
        ]  # fmt: skip
        body = json.dumps(events).encode()
        headers = {"content-type": "application/json"}
        wall, cpu = [], []
        with TestClient(create_app(store=store, auth=False)) as client:
            for n in range(3 + args.posts):
                started, spent = time.perf_counter(), time.process_time()
                answer = client.post("/api/metrics", content=body, headers=headers)
                if n >= 3:
                    wall.append((time.perf_counter() - started) * 1000)
                    cpu.append((time.process_time() - spent) * 1000)
                assert answer.status_code == 204, answer.text
        store.close()
    print(f"POST /api/metrics of {args.events:,} events ({len(body) / 1e6:.1f} MB), median of {args.posts}")
    print(f"  wall {statistics.median(wall):8.2f} ms   (min {min(wall):.2f})")
    print(f"  CPU  {statistics.median(cpu):8.2f} ms   (min {min(cpu):.2f})")


if __name__ == "__main__":
    main()
