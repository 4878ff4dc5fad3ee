"""Several processes on one store: concurrent writers never see "database is locked",
and every queue entry is claimed by exactly one worker.

The workers are separate interpreters (spawn), like local-mode steps and agents.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter

import pytest

from ductwork.core.queries import EventQuery, TaskQuery
from ductwork.core.records import ConsoleLine, MetricEvent, Param, TaskRecord, Worker
from ductwork.store import Store

PROCESSES = 4


def _wait_until(start_at: float) -> None:
    # Spawned interpreters start at different speeds; line them up so their writes overlap.
    time.sleep(max(0.0, start_at - time.time()))


def _writer(url: str, index: int, start_at: float, tasks: int) -> list[str]:
    store = Store(url)
    try:
        _wait_until(start_at)
        made = []
        for n in range(tasks):
            task = store.create_task(TaskRecord(name=f"w{index}-{n}", tags=[f"writer{index}"]))
            store.set_parameters(task.id, {"Args/n": Param(n)})
            store.set_status(task.id, "in_progress")
            store.add_events([MetricEvent(task.id, "scalar", "loss", "s", i, float(i)) for i in range(25)])
            store.add_console([ConsoleLine(task.id, f"line {i}") for i in range(5)])
            store.set_status(task.id, "completed")
            made.append(task.id)
        return made
    finally:
        store.close()


def _claimer(url: str, worker: str, start_at: float) -> list[str]:
    store = Store(url)
    try:
        store.register_worker(Worker(worker, ["race"]))
        _wait_until(start_at)
        claimed = []
        while (task := store.claim(["race"], worker)) is not None:
            assert task.worker == worker and task.status == "in_progress"
            claimed.append(task.id)
            time.sleep(0.001)  # an agent does a little work between claims
        return claimed
    finally:
        store.close()


@pytest.mark.slow
def test_concurrent_writers(store_url: str) -> None:
    per_process = 30
    start_at = time.time() + 2.5
    with multiprocessing.get_context("spawn").Pool(PROCESSES) as pool:
        results = pool.starmap(_writer, [(store_url, i, start_at, per_process) for i in range(PROCESSES)])
    store = Store(store_url)
    try:
        ids = [task_id for made in results for task_id in made]
        assert len(ids) == len(set(ids)) == PROCESSES * per_process
        done = store.query_tasks(TaskQuery(status=["completed"]))
        assert {t.id for t in done} == set(ids)
        for task_id in ids[:: per_process // 3]:
            assert len(store.get_events(EventQuery(task_id))) == 25
            assert [line.seq for line in store.get_console(task_id)] == [1, 2, 3, 4, 5]
        for i in range(PROCESSES):
            assert store.count_tasks(TaskQuery(tags=[f"writer{i}"])) == per_process
    finally:
        store.close()


@pytest.mark.slow
def test_claim_race_each_entry_to_exactly_one_worker(store: Store) -> None:
    store.ensure_queue("race")
    entries = 200
    ids = []
    for n in range(entries):
        task = store.create_task(TaskRecord(name=f"job{n}"))
        store.enqueue(task.id, "race", priority=n % 3)
        ids.append(task.id)
    start_at = time.time() + 2.5
    with multiprocessing.get_context("spawn").Pool(PROCESSES) as pool:
        results = pool.starmap(_claimer, [(store.url, f"worker{i}", start_at) for i in range(PROCESSES)])
    claimed = Counter(task_id for batch in results for task_id in batch)
    assert set(claimed) == set(ids)
    assert max(claimed.values()) == 1
    assert store.queue_entries("race") == []
    owners = {task_id: f"worker{i}" for i, batch in enumerate(results) for task_id in batch}
    for task in store.get_tasks(ids):
        assert task.status == "in_progress" and task.worker == owners[task.id]
    # More than one worker got work: the claims really did interleave.
    assert sum(1 for batch in results if batch) > 1


def test_batches_over_the_same_tasks_never_deadlock(store: Store) -> None:
    import threading

    a = store.create_task(TaskRecord(name="a")).id
    b = store.create_task(TaskRecord(name="b")).id
    errors: list[BaseException] = []

    def report(first: str, second: str) -> None:
        try:
            for i in range(150):
                batch = [MetricEvent(task, "scalar", "x", "s", i) for task in (first, second)]
                store.add_events(batch)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=report, args=pair) for pair in ((a, b), (b, a), (a, b), (b, a))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(store.get_events(EventQuery(a))) == len(store.get_events(EventQuery(b))) == 600


def test_claims_racing_stops_stay_consistent(store: Store) -> None:
    import threading

    store.ensure_queue("q")
    ids = []
    for n in range(60):
        task = store.create_task(TaskRecord(name=f"t{n}"))
        store.enqueue(task.id, "q")
        ids.append(task.id)
    errors: list[BaseException] = []
    claimed: list[str] = []

    def claimer() -> None:
        try:
            while (task := store.claim(["q"], "w")) is not None:
                claimed.append(task.id)
        except BaseException as error:
            errors.append(error)

    def stopper() -> None:
        try:
            for task_id in reversed(ids):
                store.set_status(task_id, "stopped", force=True)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work) for work in (claimer, claimer, stopper)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.queue_entries("q") == []
    assert len(claimed) == len(set(claimed))
    assert {t.status for t in store.get_tasks(ids)} == {"stopped"}
