"""The store's checking and encoding of the rows a debug step writes, per call, without a database.

    python bench/bench_checks.py [--calls 20000] [--rounds 7]

What a debug step costs the store before any SQL: its start (`held.hold`: the task's row checked
and encoded, its parameters' rows), and at its end its result's parameter (`params.set_many`),
its artifact record (`artifacts.put_many`) and its node state (`nodes.put`), each for one row,
through a connection that runs nothing (the tasks are this transaction's own, so no row is
touched). The records are a real step's (`branch` of bench_pipelines' fan-out: its script with
the captured code, runtime, owner, two int parameters). CPU microseconds per call, median of
`--rounds` rounds of `--calls` calls each.

Runs on older sources too (bench/before_after.py --only checks): it uses only functions the
store has had since held starts.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from ductwork.core.records import ArtifactRecord, NodeState, Param, TaskRecord
from ductwork.store import artifacts, held, nodes, params
from ductwork.store.sql import Conn

TASK = "ca4f10cefd6d48ea9592ec86bc88a301"
RUN = "48d31f2b9f0145349d2b2c776341288e"
CODE = "from __future__ import annotations\n\n\ndef branch(src, i):\n    return src + i\n"


def step_task() -> TaskRecord:
    """A debug step's task as `Store.hold_start` is given it."""
    return TaskRecord(
        id=TASK,
        name="branch_1",
        project="01ccbcc959d34cfb81d16975010a2faa",
        status="in_progress",
        created=1796526785.0317593,
        started=1796526785.031762,
        updated=1796526785.0317595,
        parent=RUN,
        user="root",
        script={
            "binary": "python3.11",
            "code": CODE,
            "entry_point": "branch_1.py",
            "function": "branch",
            "module": "ductwork.sdk.runner",
            "working_dir": ".",
        },
        requirements={"pip": ""},
        runtime={
            "_owner": {
                "host": "vm",
                "ns": 4026531836,
                "pid": 12794,
                "start": "164212",
                "started": 1796526785.031762,
                "worker": f"controller:vm:12794:{RUN}",
            },
            "attempt": 0,
            "return_names": ["v"],
            "run": RUN,
            "step": "branch_1",
        },
    )


ARGS = {"kwargs/i": Param(1, "int"), "kwargs/src": Param(0, "int")}
RESULT = {TASK: {"return/v": Param(1, "int")}}
ARTIFACT = ArtifactRecord(
    task_id=TASK,
    name="v",
    type="json",
    inline="1",
    hash="6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b",
    size=1,
    content_type="application/json",
    preview="1",
    metadata={"return": True},
    timestamp=1796526785.031957,
)
NODE = NodeState(run_id=RUN, name="branch_1", status="running", task_id=TASK, started=1796526785.014106)


class Idle(Conn):
    """A connection that runs nothing: the step's task is this transaction's own (`fresh`)."""

    def __init__(self, dialect: str) -> None:
        super().__init__(None, dialect)
        self.fresh.add(TASK)

    def many(self, text: str, rows: Sequence[Any]) -> None:
        pass


def per_call_us(work: Callable[[], object], calls: int, rounds: int) -> float:
    """Median over `rounds` of the CPU time of `calls` calls, per call, in microseconds."""
    for _ in range(calls // 10):
        work()  # warm-up
    figures = []
    for _ in range(rounds):
        spent = time.process_time()
        for _ in range(calls):
            work()
        figures.append((time.process_time() - spent) / calls * 1e6)
    return statistics.median(figures)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    task = step_task()
    print(f"{'one debug step, per call':<42}{'CPU us':>8}")
    for dialect in ("sqlite", "postgresql"):
        conn = Idle(dialect)
        work: dict[str, Callable[[], object]] = {
            "hold": lambda: held.hold(task, ARGS, dialect),
            "rows_of, 2 int parameters": lambda: params.rows_of(TASK, ARGS),
            "set_many, 1 result parameter": lambda: params.set_many(conn, RESULT),
            "put_many, 1 artifact": lambda: artifacts.put_many(conn, [ARTIFACT]),
            "nodes.put, 1 node": lambda: nodes.put(conn, [NODE]),
        }
        total = 0.0
        for name, call in work.items():
            figure = per_call_us(call, args.calls, args.rounds)
            total += figure if name != "rows_of, 2 int parameters" else 0.0  # hold includes it
            print(f"  {f'{name} ({dialect})':<40}{figure:>8.2f}")
        print(f"  {f'a step in all ({dialect})':<40}{total:>8.2f}")


if __name__ == "__main__":
    main()
