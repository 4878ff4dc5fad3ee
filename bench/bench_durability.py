"""What the stated durability level costs (docs/durability.md), each figure beside its floor.

    python bench/bench_durability.py [--dir PATH] [--commits 300] [--points 100000]

The floor is the same work with the durability switched off: SQLite `synchronous=NORMAL`
(WAL fsynced only at checkpoints) instead of `FULL` (WAL fsynced at every commit), and artifact
files renamed into place without fsync of the file and its folder. Run it on the disk you care
about: the ratio is the price of fsync there (a tmpfs shows none, a network disk the most).

1. Small commits: `set_status` round trips (each one commit) on the embedded store.
2. Metric batches: 100,000 scalar points written as 5 batches of 20,000 (the writer's batch size).
3. Artifacts: 100 arrays of 8 KB saved through the artifact store.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ductwork.artifacts.store import ArtifactStore
from ductwork.core.records import MetricEvent, TaskRecord
from ductwork.store import Store


def timed(run: Callable[[], None]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def open_store(folder: str, synchronous: str) -> Store:
    store = Store(f"sqlite:///{folder}/ductwork-{synchronous}.db")
    if synchronous != "FULL":
        database = store.database
        database.dispose()
        connect = database._connect

        def relaxed() -> Any:  # the store's own pragmas first, then this one
            connection = connect()
            connection.execute(f"PRAGMA synchronous={synchronous}")
            return connection

        database._connect = relaxed  # type: ignore[method-assign]
    return store


def commits(store: Store, count: int) -> float:
    project = store.ensure_project("bench")
    task = store.create_task(TaskRecord(name="t", project=project.id, status="in_progress"))

    def run() -> None:
        for i in range(count):
            store.edit_task(task.id, {"comment": f"commit {i}"})

    return timed(run)


def batches(store: Store, points: int) -> float:
    project = store.ensure_project("bench")
    task = store.create_task(TaskRecord(name="m", project=project.id, status="in_progress"))
    events = [MetricEvent(task.id, "scalar", "loss", "train", i, i * 0.5) for i in range(points)]

    def run() -> None:
        for start in range(0, points, 20_000):
            store.add_events(events[start : start + 20_000])

    return timed(run)


def artifacts(folder: str, durable: bool) -> float:
    store = ArtifactStore(folder)
    arrays = [np.random.default_rng(i).random(1024) for i in range(100)]
    real_fsync = os.fsync
    if not durable:
        os.fsync = lambda fd: None
    try:
        return timed(lambda: [store.save("t" * 32, f"a{i}", a) for i, a in enumerate(arrays)] and None)
    finally:
        os.fsync = real_fsync


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", default=None)
    parser.add_argument("--commits", type=int, default=300)
    parser.add_argument("--points", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        full, normal = open_store(folder, "FULL"), open_store(folder, "NORMAL")
        rows = [
            (f"{args.commits} small commits", commits(full, args.commits), commits(normal, args.commits)),
            (f"{args.points:,} points in batches", batches(full, args.points), batches(normal, args.points)),
            (
                "100 artifacts of 8 KB",
                artifacts(os.path.join(folder, "durable"), True),
                artifacts(os.path.join(folder, "fast"), False),
            ),
        ]
    print(f"{'case':28} {'durable':>10} {'floor':>10} {'ratio':>6}")
    for name, durable, floor in rows:
        print(f"{name:28} {durable * 1000:8.1f}ms {floor * 1000:8.1f}ms {durable / floor:6.2f}")


if __name__ == "__main__":
    main()
