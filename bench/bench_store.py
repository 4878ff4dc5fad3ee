"""Store latency and throughput on SQLite, each figure beside its floor.

The floor is plain `sqlite3` doing the same work on the same schema (same file settings:
WAL, synchronous=FULL as the store has it, foreign keys, one BEGIN IMMEDIATE ... COMMIT per call), so the
ratio is what the store itself costs: its SQL layer (store/sql.py over sqlite3), validation,
record building.

    python bench/bench_store.py            # SQLite in a temporary folder
    python bench/bench_store.py --pg URL   # the same calls on PostgreSQL (no floor)

Goals: each simple call ~0.1-0.3 ms; >= 500,000 scalar points/s through add_events (issue 15).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
import uuid
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


def events_per_second_raw(conn: sqlite3.Connection) -> tuple[float, float]:
    """The same points by plain sqlite3 on the same layout: the series row once, then each
    batch's executemany of (series id, iteration, value, payload, ts) after the task's bump."""
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
        [(series_id, i, i * 0.5, None, stamp) for i in range(start, start + BATCH)]
        for start in range(0, POINTS, BATCH)
    ]
    start, cpu = time.perf_counter(), time.process_time()
    for batch in batches:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE tasks SET updated = ? WHERE id = ?", (time.time(), task_id))
        conn.executemany(
            "INSERT INTO events (series_id, iteration, value, payload, ts) VALUES (?, ?, ?, ?, ?)", batch
        )
        conn.execute("COMMIT")
    return POINTS / (time.perf_counter() - start), POINTS / (time.process_time() - cpu)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", help="also measure this PostgreSQL URL (an empty database or schema)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store_path, raw_path = Path(folder) / "store.db", Path(folder) / "raw.db"
        migrate.upgrade(f"sqlite:///{raw_path}")
        store = Store(f"sqlite:///{store_path}")
        raw = raw_connection(raw_path)

        print(f"{'SQLite, per call':<28}{'store ms':>10}{'floor ms':>10}{'ratio':>8}")
        ours, floors = store_calls(store), raw_calls(raw)
        for name, fn in ours.items():
            mine, floor = per_call_ms(fn), per_call_ms(floors[name])
            print(f"{name:<28}{mine:>10.3f}{floor:>10.3f}{mine / floor:>8.2f}")

        (mine, mine_cpu), (floor, floor_cpu) = events_per_second_store(store), events_per_second_raw(raw)
        print(f"\n{'add_events, 100k scalars':<28}{'store /s':>10}{'floor /s':>10}{'ratio':>8}")
        print(f"{f'wall (batches of {BATCH})':<28}{mine:>10,.0f}{floor:>10,.0f}{floor / mine:>8.2f}")
        print(
            f"{'cpu (no fsync waits)':<28}{mine_cpu:>10,.0f}{floor_cpu:>10,.0f}{floor_cpu / mine_cpu:>8.2f}"
        )
        rows, rows_cpu = rows_per_second_store(store)
        print(f"{'add_event_rows (SDK) wall':<28}{rows:>10,.0f}{floor:>10,.0f}{floor / rows:>8.2f}")
        ratio = floor_cpu / rows_cpu
        print(f"{'add_event_rows (SDK) cpu':<28}{rows_cpu:>10,.0f}{floor_cpu:>10,.0f}{ratio:>8.2f}")
        print(f"{'target':<28}{500_000:>10,}")

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
