"""Store latency and throughput on SQLite, each figure beside its floor.

The floor is plain `sqlite3` doing the same work on the same schema (same file settings:
WAL, synchronous=FULL as the store has it, foreign keys, one BEGIN IMMEDIATE ... COMMIT per call), so the
ratio is what the store itself costs: its SQL layer (store/sql.py over sqlite3), validation,
record building.

    python bench/bench_store.py            # SQLite in a temporary folder
    python bench/bench_store.py --pg URL   # the same calls on PostgreSQL (no floor)

    python bench/bench_store.py --scalars  # the scalar figures alone

Scalars: the floor is plain sqlite3 writing the same points as the store lays them out (one
chunk per series per batch: store/chunks.py); beside it the store's calls and a user's whole
path, `report_scalar` in a loop and `flush(wait=True)` into committed rows, wall and CPU.

Goals: each simple call ~0.1-0.3 ms; >= 500,000 scalar points/s through add_events and through
report_scalar (issue 15).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import tempfile
import time
import uuid
from array import array
from collections.abc import Callable
from pathlib import Path

from ductwork.core.records import ArtifactRecord, MetricEvent, NodeState, Param, TaskRecord
from ductwork.store import Store, migrate

CALLS = 2000
POINTS = 100_000
BATCH = 1000


def per_call_ms(fn: Callable[[int], object], n: int = CALLS) -> float:
    """Median of 5 rounds of the mean latency of `n` calls, in ms."""
    rounds = []
    for r in range(5):
        start = time.perf_counter()
        for i in range(n // 5):
            fn(r * (n // 5) + i)
        rounds.append((time.perf_counter() - start) / (n // 5) * 1000)
    return statistics.median(rounds)


def raw_connection(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


# A task row with every NOT NULL column: (id, name, type, created, updated, runtime, cache_key).
RAW_TASK = (
    "INSERT INTO tasks (id, name, type, status, status_message, status_reason, created, updated,"
    " tags, system_tags, comment, user, script, requirements, container, runtime, archived, progress,"
    " cache_key) VALUES (?, ?, ?, 'created', '', '', ?, ?, '[]', '[]', '', '', '{}', '{}', '{}', ?, 0, 0, ?)"
)


def write(conn: sqlite3.Connection, *statements: tuple[str, tuple[object, ...]]) -> None:
    conn.execute("BEGIN IMMEDIATE")
    for sql, args in statements:
        conn.execute(sql, args)
    conn.execute("COMMIT")


def store_calls(store: Store) -> dict[str, Callable[[int], object]]:
    run = store.create_task(TaskRecord(name="controller", type="controller"))
    ids: list[str] = []

    def create(i: int) -> None:
        ids.append(store.create_task(TaskRecord(name=f"step{i}", runtime={"cache_key": f"k{i}"})).id)

    return {
        "create_task": create,
        "set_parameters": lambda i: store.set_parameters(ids[i], {"Args/x": Param(i), "Args/y": Param([i])}),
        "set_status running": lambda i: store.set_status(ids[i], "in_progress"),
        "put_artifact": lambda i: store.put_artifact(ArtifactRecord(ids[i], "result", "json", inline=str(i))),
        "put_nodes": lambda i: store.put_nodes([NodeState(run.id, f"step{i}", "running", ids[i])]),
        "set_status completed": lambda i: store.set_status(ids[i], "completed"),
        "get_task": lambda i: store.get_task(ids[i]),
        "find_cached": lambda i: store.find_cached(f"k{i}"),
    }


def raw_calls(conn: sqlite3.Connection) -> dict[str, Callable[[int], object]]:
    now = time.time
    run = uuid.uuid4().hex
    write(conn, (RAW_TASK, (run, "c", "controller", now(), now(), "{}", None)))
    ids: list[str] = []
    columns = (
        "id, name, project, type, status, status_message, status_reason, created, started, ended, updated,"
        " parent, tags, system_tags, comment, user, script, requirements, container, runtime, output_uri,"
        " queue, worker, archived, progress"
    )

    def create(i: int) -> None:
        task_id = uuid.uuid4().hex
        ids.append(task_id)
        runtime = json.dumps({"cache_key": f"k{i}"})
        write(conn, (RAW_TASK, (task_id, f"step{i}", "training", now(), now(), runtime, f"k{i}")))

    def set_parameters(i: int) -> None:
        touch = ("UPDATE tasks SET updated = ? WHERE id = ? RETURNING status", (now(), ids[i]))
        upsert = (
            "INSERT INTO params VALUES (?, ?, ?, ?, '', '') ON CONFLICT (task_id, section, name)"
            " DO UPDATE SET value = excluded.value, type = excluded.type, description = excluded.description"
        )
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(*touch).fetchall()
        rows = [(ids[i], "Args", "x", json.dumps(i)), (ids[i], "Args", "y", json.dumps([i]))]
        conn.executemany(upsert, rows)
        conn.execute("COMMIT")

    def status(task_id: str, value: str) -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("SELECT status FROM tasks WHERE id = ?", (task_id,)).fetchone()
        conn.execute(
            f"UPDATE tasks SET status = ?, status_message = '', status_reason = '', updated = ?, started = ?"
            f" WHERE id = ? RETURNING {columns}",
            (value, now(), now(), task_id),
        ).fetchone()
        conn.execute("COMMIT")

    def put_artifact(i: int) -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE tasks SET updated = ? WHERE id = ? RETURNING status", (now(), ids[i])).fetchall()
        conn.execute(
            "INSERT INTO artifacts VALUES (?, 'result', 'json', 'output', '', ?, '', 0, '', '', '{}', ?, '')"
            " ON CONFLICT (task_id, name) DO UPDATE SET inline = excluded.inline",
            (ids[i], str(i), now()),
        )
        conn.execute("COMMIT")

    def put_nodes(i: int) -> None:
        write(
            conn,
            (
                "INSERT INTO nodes (run_id, name, status, task_id, attempt, cache_key, cache_note, message,"
                " updated) VALUES (?, ?, 'running', ?, 0, '', '', '', ?) ON CONFLICT (run_id, name)"
                " DO UPDATE SET status = excluded.status, task_id = excluded.task_id,"
                " updated = excluded.updated",
                (run, f"step{i}", ids[i], now()),
            ),
        )

    def get_task(i: int) -> None:
        conn.execute("BEGIN")
        row = conn.execute(f"SELECT {columns} FROM tasks WHERE id = ?", (ids[i],)).fetchone()
        json.loads(row[12]), json.loads(row[13]), json.loads(row[16]), json.loads(row[19])
        conn.execute("COMMIT")

    def find_cached(i: int) -> None:
        conn.execute("BEGIN")
        conn.execute(
            f"SELECT {columns} FROM tasks WHERE cache_key = ? AND status IN ('completed', 'published')"
            " AND archived = 0 ORDER BY ended DESC, created DESC LIMIT 8",
            (f"k{i}",),
        ).fetchall()
        conn.execute("COMMIT")

    return {
        "create_task": create,
        "set_parameters": set_parameters,
        "set_status running": lambda i: status(ids[i], "in_progress"),
        "put_artifact": put_artifact,
        "put_nodes": put_nodes,
        "set_status completed": lambda i: status(ids[i], "completed"),
        "get_task": get_task,
        "find_cached": find_cached,
    }


def events_per_second_store(store: Store) -> tuple[float, float]:
    task = store.create_task(TaskRecord(name="metrics"))
    batches = [
        [MetricEvent(task.id, "scalar", "loss", "train", i, i * 0.5) for i in range(start, start + BATCH)]
        for start in range(0, POINTS, BATCH)
    ]
    start, cpu = time.perf_counter(), time.process_time()
    for batch in batches:
        store.add_events(batch)
    return POINTS / (time.perf_counter() - start), POINTS / (time.process_time() - cpu)


def rows_per_second_store(store: Store) -> tuple[float, float]:
    """`add_event_rows`: the embedded SDK's path (the rows as Logger queued them, no records)."""
    task = store.create_task(TaskRecord(name="metrics rows"))
    stamp = time.time()
    batches = [
        [(task.id, "scalar", "loss", "train", i, i * 0.5, None, stamp) for i in range(start, start + BATCH)]
        for start in range(0, POINTS, BATCH)
    ]
    start, cpu = time.perf_counter(), time.process_time()
    for batch in batches:
        store.add_event_rows(batch)
    return POINTS / (time.perf_counter() - start), POINTS / (time.process_time() - cpu)


def chunks_per_second_raw(conn: sqlite3.Connection) -> tuple[float, float]:
    """The floor: the same points by plain sqlite3 on the same layout. The series row once, then
    per batch the task's bump and one chunk (its iterations, values and times packed by `array`,
    its highest iteration and last value), each batch its own transaction."""
    task_id = uuid.uuid4().hex
    write(conn, (RAW_TASK, (task_id, "m", "training", 0.0, 0.0, "{}", None)))
    write(
        conn,
        (
            "INSERT INTO series (task_id, kind, title, series) VALUES (?, 'scalar', 'loss', 'train')",
            (task_id,),
        ),
    )
    series_id = conn.execute("SELECT id FROM series WHERE task_id = ?", (task_id,)).fetchone()[0]
    stamp = time.time()
    batches = [
        (list(range(start, start + BATCH)), [i * 0.5 for i in range(start, start + BATCH)], [stamp] * BATCH)
        for start in range(0, POINTS, BATCH)
    ]
    insert = (
        "INSERT INTO chunks (series_id, low, high, last_iteration, last_value, iterations, numbers, nulls,"
        " times, payloads) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, NULL)"
    )
    start, cpu = time.perf_counter(), time.process_time()
    for iterations, values, times in batches:
        low, high = min(iterations), max(iterations)
        packed = (array("q", iterations).tobytes(), array("d", values).tobytes(), array("d", times).tobytes())
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE tasks SET updated = ? WHERE id = ?", (time.time(), task_id))
        conn.execute(insert, (series_id, low, high, high, values[-1], *packed))
        conn.execute("COMMIT")
    return POINTS / (time.perf_counter() - start), POINTS / (time.process_time() - cpu)


def rows_per_second_raw(conn: sqlite3.Connection) -> tuple[float, float]:
    """For scale, the floor of the layout before chunks (migration 0004: a row per point under
    a (series_id, iteration) index, one executemany per batch)."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS points_0004 (id INTEGER PRIMARY KEY, series_id INTEGER NOT NULL,"
        " iteration BIGINT NOT NULL, value FLOAT, payload JSON, ts FLOAT NOT NULL)"
    )
    conn.execute("CREATE INDEX IF NOT EXISTS ix_points_0004 ON points_0004 (series_id, iteration)")
    stamp = time.time()
    batches = [
        [(1, i, i * 0.5, None, stamp) for i in range(start, start + BATCH)]
        for start in range(0, POINTS, BATCH)
    ]
    start, cpu = time.perf_counter(), time.process_time()
    for batch in batches:
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            "INSERT INTO points_0004 (series_id, iteration, value, payload, ts) VALUES (?, ?, ?, ?, ?)", batch
        )
        conn.execute("COMMIT")
    return POINTS / (time.perf_counter() - start), POINTS / (time.process_time() - cpu)


def report_scalar_per_second(series: int = 1) -> tuple[float, float]:
    """What a user's loop costs end to end: `report_scalar` POINTS times (over `series` series
    of one title), then `flush(wait=True)`, into committed chunks of the embedded SQLite store
    ($DUCTWORK_HOME). CPU counts every thread (the writer's too)."""
    from ductwork import Task

    task = Task.init("bench", f"scalars x{series}", auto_connect_streams=False, auto_connect_frameworks=False)
    logger = task.get_logger()
    report_scalar = logger.report_scalar
    names = [f"s{i}" for i in range(series)] * (POINTS // series)
    start, cpu = time.perf_counter(), time.process_time()
    for i, name in enumerate(names):
        report_scalar("loss", name, i * 0.5, i)
    logger.flush(wait=True)
    rates = POINTS / (time.perf_counter() - start), POINTS / (time.process_time() - cpu)
    task.close()
    return rates


def median_rates(measure: Callable[[], tuple[float, float]], rounds: int = 3) -> tuple[float, float]:
    results = [measure() for _ in range(rounds)]
    return statistics.median(r[0] for r in results), statistics.median(r[1] for r in results)


def open_cost_ms(url: str) -> float:
    """Opening a store whose schema is current (the version check, not a migration)."""
    times = []
    for _ in range(20):
        start = time.perf_counter()
        store = Store(url)
        store.list_queues()
        times.append((time.perf_counter() - start) * 1000)
        store.close()
    return statistics.median(times)


def scalar_figures(store: Store, raw: sqlite3.Connection) -> None:
    """Points/s of each way in, wall and CPU (median of 3), beside the floor's CPU rate."""
    print(f"\n{f'100k scalars, batches of {BATCH}':<30}{'wall /s':>11}{'cpu /s':>11}{'floor/cpu':>11}")
    floor, floor_cpu = median_rates(lambda: chunks_per_second_raw(raw))
    figures = {
        "floor: sqlite3, chunks": (floor, floor_cpu),
        "Store.add_events": median_rates(lambda: events_per_second_store(store)),
        "Store.add_event_rows (SDK)": median_rates(lambda: rows_per_second_store(store)),
        "report_scalar loop + flush": median_rates(report_scalar_per_second),
        "report_scalar, 10 series": median_rates(lambda: report_scalar_per_second(10)),
        "(floor, row per point: 0004)": median_rates(lambda: rows_per_second_raw(raw)),
    }
    for name, (wall, cpu) in figures.items():
        print(f"{name:<30}{wall:>11,.0f}{cpu:>11,.0f}{floor_cpu / cpu:>11.2f}")
    print(f"{'target':<30}{500_000:>11,}{500_000:>11,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", help="also measure this PostgreSQL URL (an empty database or schema)")
    parser.add_argument("--scalars", action="store_true", help="the scalar figures alone (SQLite)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store_path, raw_path = Path(folder) / "store.db", Path(folder) / "raw.db"
        os.environ["DUCTWORK_HOME"] = str(Path(folder) / "home")  # report_scalar's embedded store
        for name in ("DUCTWORK_DB_URL", "DUCTWORK_API_URL", "DUCTWORK_TASK_ID", "DUCTWORK_PIPE"):
            os.environ.pop(name, None)
        migrate.upgrade(f"sqlite:///{raw_path}")
        store = Store(f"sqlite:///{store_path}")
        raw = raw_connection(raw_path)

        if not args.scalars:
            print(f"{'SQLite, per call':<28}{'store ms':>10}{'floor ms':>10}{'ratio':>8}")
            ours, floors = store_calls(store), raw_calls(raw)
            for name, fn in ours.items():
                mine, floor = per_call_ms(fn), per_call_ms(floors[name])
                print(f"{name:<28}{mine:>10.3f}{floor:>10.3f}{mine / floor:>8.2f}")
        scalar_figures(store, raw)
        if args.scalars:
            return

        stamp = time.perf_counter()
        raw_open = sqlite3.connect(raw_path)
        raw_open.execute("SELECT version_num FROM alembic_version").fetchone()
        raw_open.close()
        raw_open_ms = (time.perf_counter() - stamp) * 1000
        opened = open_cost_ms(f"sqlite:///{store_path}")
        ratio = opened / raw_open_ms
        print(f"\n{'open a current store (ms)':<28}{opened:>10.3f}{raw_open_ms:>10.3f}{ratio:>8.2f}")
        store.close()
        raw.close()

    if args.pg:
        store = Store(args.pg)
        print(f"\n{'PostgreSQL, per call':<28}{'store ms':>10}")
        for name, fn in store_calls(store).items():
            print(f"{name:<28}{per_call_ms(fn, 500):>10.3f}")
        wall, cpu = events_per_second_store(store)
        print(f"{'add_events, 100k scalars':<28}{wall:>10,.0f} /s wall, {cpu:,.0f} /s cpu")
        store.close()


if __name__ == "__main__":
    main()
