"""Task SDK benchmarks, each printed beside its floor (plain Python doing the same work).

    python bench/bench_tasks.py
    python bench/bench_tasks.py --scalars   # the report_scalar figure alone

* Task.init + close, in a warm process (floor: the same three SQLite commits with sqlite3);
* 100,000 report_scalar calls end to end into SQLite (target >= 500,000 points/s; floor: plain
  sqlite3 writing the same points into the store's own tables as the store lays them out (one
  chunk: store/chunks.py), with the store's settings (WAL, synchronous=FULL): one BEGIN
  IMMEDIATE, the task's touch, the chunk, COMMIT; bench_store --scalars has the same figure);
* 100 small artifacts (floor: np.save of each + one sqlite3 insert per artifact);
* `import ductwork` in a fresh interpreter vs `python -c pass` (target: within 50 ms).

Runs against a temporary $DUCTWORK_HOME on the same disk as the floors.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from array import array as packed_array
from collections.abc import Callable
from pathlib import Path

import numpy as np

SCALARS = 100_000
SCALAR_RUNS = 5
FLOOR_TASK = "f" * 32
ARTIFACTS = 100
INITS = 30
IMPORT_RUNS = 15


def report(name: str, value: float, unit: str, floor: float, target: str = "") -> None:
    ratio = value / floor if floor else float("inf")
    line = f"{name:<44} {value:>12.3f} {unit:<9} floor {floor:>10.3f} {unit:<9} ratio {ratio:>7.2f}x"
    print(line + (f"   ({target})" if target else ""), flush=True)


def best(runs: int, action: Callable[[], float]) -> float:
    return min(action() for _ in range(runs))


def sqlite_floor_db(folder: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(folder / "floor.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS tasks (id TEXT PRIMARY KEY, name TEXT, status TEXT, updated REAL)"
    )
    conn.execute(
        "CREATE TABLE IF NOT EXISTS events (task_id TEXT, kind TEXT, title TEXT, series TEXT,"
        " iteration INTEGER, value REAL, ts REAL)"
    )
    # the index the store keeps for reading a series back
    conn.execute(
        "CREATE INDEX IF NOT EXISTS events_series ON events (task_id, kind, title, series, iteration)"
    )
    conn.execute("CREATE TABLE IF NOT EXISTS artifacts (task_id TEXT, name TEXT, uri TEXT, hash TEXT)")
    return conn


def bench_init_close(folder: Path) -> None:
    from ductwork import Task

    def once() -> float:
        started = time.perf_counter()
        task = Task.init("bench", "init-close", auto_connect_streams=False, auto_connect_frameworks=False)
        task.close()
        return time.perf_counter() - started

    once()  # the store is created and migrated on first use
    ours = statistics.median(once() for _ in range(INITS))
    conn = sqlite_floor_db(folder)

    def floor_once() -> float:
        started = time.perf_counter()
        task_id = os.urandom(16).hex()
        conn.execute("INSERT INTO tasks VALUES (?, ?, ?, ?)", (task_id, "init-close", "created", time.time()))
        conn.execute("UPDATE tasks SET status='in_progress', updated=? WHERE id=?", (time.time(), task_id))
        conn.execute("UPDATE tasks SET status='completed', updated=? WHERE id=?", (time.time(), task_id))
        return time.perf_counter() - started

    floor = statistics.median(floor_once() for _ in range(INITS))
    report("Task.init + close (median)", ours * 1000, "ms", floor * 1000)


def bench_scalars(folder: Path) -> None:
    floor_db = store_floor_db(folder)
    runs = [scalar_run(floor_db) for _ in range(SCALAR_RUNS)]
    total, queued, floor, cpu, floor_cpu = (min(r[k] for r in runs) for k in range(5))
    # points/s: the floor is the faster one, so the ratio is ours over the floor (1.0 = as fast)
    ratio = floor / total
    print(
        f"{f'{SCALARS:,} report_scalar end to end (best of {SCALAR_RUNS})':<44} {SCALARS / total:>12,.0f}"
        f" points/s  floor {SCALARS / floor:>10,.0f} points/s  ratio {ratio:>7.2f}x of the floor"
        "   (target >= 500,000 points/s)",
        flush=True,
    )
    # CPU time (all threads) per point: steadier than wall time on a shared machine
    report("report_scalar end to end, CPU per point", cpu / SCALARS * 1e6, "us", floor_cpu / SCALARS * 1e6)
    buffer: list[tuple[str, str, float, int]] = []
    append = buffer.append
    append_started = time.perf_counter()
    for i in range(SCALARS):
        append(("loss", "train", 0.5, i))
    appended = time.perf_counter() - append_started
    report("report_scalar, caller's cost per call", queued / SCALARS * 1e6, "us", appended / SCALARS * 1e6)


def store_floor_db(folder: Path) -> sqlite3.Connection:
    """A database with the store's own schema, opened with the store's settings."""
    from ductwork.store import migrate

    path = folder / "floor-store.db"
    migrate.upgrade(f"sqlite:///{path}")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")  # the store's: the WAL fsynced at every commit
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(
        "INSERT INTO tasks (id, name, type, status, status_message, status_reason, created,"
        " updated, tags, system_tags, comment, user, script, requirements, container, runtime, archived,"
        " progress) VALUES (?, 'f', 'training', 'in_progress', '', '', 0, 0, '[]', '[]', '', '', '{}',"
        " '{}', '{}', '{}', 0, 0)",
        (FLOOR_TASK,),
    )
    return conn


def scalar_run(conn: sqlite3.Connection) -> tuple[float, float, float, float, float]:
    """(ours end to end, ours queueing only, floor, ours CPU, floor CPU) in seconds."""
    from ductwork import Task

    task = Task.init("bench", "scalars", auto_connect_streams=False, auto_connect_frameworks=False)
    logger = task.get_logger()
    report_scalar = logger.report_scalar
    cpu_started, started = time.process_time(), time.perf_counter()
    for i in range(SCALARS):
        report_scalar("loss", "train", 0.5, i)
    queued = time.perf_counter() - started
    logger.flush(wait=True)
    total, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    task.close()
    floor_cpu_started, floor_started = time.process_time(), time.perf_counter()
    iterations, values = list(range(SCALARS)), [0.5] * SCALARS
    times = [time.time() for _ in range(SCALARS)]
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE tasks SET updated = ? WHERE id = ?", (time.time(), FLOOR_TASK))
    conn.execute(
        "INSERT INTO series (task_id, kind, title, series) VALUES (?, 'scalar', 'loss', 'train')"
        " ON CONFLICT DO NOTHING",
        (FLOOR_TASK,),
    )
    series_id = conn.execute("SELECT id FROM series WHERE task_id = ?", (FLOOR_TASK,)).fetchone()[0]
    packed = tuple(
        packed_array(code, items).tobytes()
        for code, items in (("q", iterations), ("d", values), ("d", times))
    )
    conn.execute(
        "INSERT INTO chunks (series_id, low, high, last_iteration, last_value, iterations, numbers, nulls,"
        " times, payloads) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, NULL)",
        (series_id, 0, SCALARS - 1, SCALARS - 1, values[-1], *packed),
    )
    conn.execute("COMMIT")
    floor, floor_cpu = time.perf_counter() - floor_started, time.process_time() - floor_cpu_started
    return total, queued, floor, cpu, floor_cpu


def bench_artifacts(folder: Path) -> None:
    from ductwork import Task

    arrays = [np.arange(256, dtype=np.float64) + i for i in range(ARTIFACTS)]
    task = Task.init("bench", "artifacts", auto_connect_streams=False, auto_connect_frameworks=False)
    started = time.perf_counter()
    for i, array in enumerate(arrays):
        task.upload_artifact(f"array {i}", array)
    task.flush(wait_for_uploads=True)
    ours = time.perf_counter() - started
    task.close()
    assert len(task.artifacts) == ARTIFACTS

    conn = sqlite_floor_db(folder)
    target = folder / "floor-artifacts"
    target.mkdir(exist_ok=True)
    floor_started = time.perf_counter()
    for i, array in enumerate(arrays):
        path = target / f"{i}.npy"
        np.save(path, array)
        conn.execute("INSERT INTO artifacts VALUES (?, ?, ?, ?)", ("t", f"array {i}", str(path), ""))
    floor = time.perf_counter() - floor_started
    report(f"{ARTIFACTS} small artifacts (2 KB arrays)", ours * 1000, "ms", floor * 1000)


def bench_import() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUCTWORK_")}
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))

    def run(code: str) -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=env, check=True)
        return time.perf_counter() - started

    run("import ductwork")  # warm the file cache and bytecode
    ours = statistics.median(run("import ductwork") for _ in range(IMPORT_RUNS))
    floor = statistics.median(run("pass") for _ in range(IMPORT_RUNS))
    report("import ductwork (fresh interpreter)", ours * 1000, "ms", floor * 1000, "target: floor + 50 ms")
    task_import = statistics.median(run("from ductwork import Task") for _ in range(IMPORT_RUNS))
    report("from ductwork import Task", task_import * 1000, "ms", floor * 1000)
    print(f"{'':<44} import ductwork costs {1000 * (ours - floor):.1f} ms above the floor", flush=True)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="ductwork-bench-", dir=os.environ.get("BENCH_DIR")) as scratch:
        folder = Path(scratch)
        os.environ["DUCTWORK_HOME"] = str(folder / "home")
        for name in ("DUCTWORK_DB_URL", "DUCTWORK_API_URL", "DUCTWORK_TASK_ID", "DUCTWORK_PIPE"):
            os.environ.pop(name, None)
        print(f"ductwork task benchmarks (python {sys.version.split()[0]}, {folder})")
        if "--scalars" in sys.argv[1:]:  # that figure alone
            bench_scalars(folder)
            return
        bench_import()
        bench_init_close(folder)
        bench_scalars(folder)
        bench_artifacts(folder)


if __name__ == "__main__":
    main()
