"""Long-poll claims through a live server: an enqueue wakes claims on its own queue, as many
as it added tasks, and none of the new work is left waiting for a claim that slept through it."""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Any

from ductwork.client.http import HttpBackend
from ductwork.core.records import TaskRecord, Worker

LONG = 30.0  # a claim's wait: far longer than the test, so only a ring can end it


def _waiting(live_server: Any, count: int) -> None:
    """Until `count` claims sleep on the server's work doorbell (bounded: a broken server fails)."""
    bell = live_server.app.state.hub.work
    deadline = time.monotonic() + 30
    while len(bell._waiters) < count:
        assert time.monotonic() < deadline, "the claims never started waiting"
        time.sleep(0.01)


def _claimer(live_server: Any, worker: str, queues: list[str]) -> Any:
    backend = HttpBackend(live_server.url, live_server.key)
    backend.register_worker(Worker(id=worker))
    return lambda: backend.wait_claim(queues, worker, wait=LONG)


def test_an_enqueue_wakes_the_claim_on_its_own_queue(live_server: Any) -> None:
    client = HttpBackend(live_server.url, live_server.key)
    for name in ("gpu", "cpu"):
        client.ensure_queue(name)
    task = client.create_task(TaskRecord(name="one", script={"code": "pass"}))
    with ThreadPoolExecutor(2) as pool:
        gpu: Future[Any] = pool.submit(_claimer(live_server, "g", ["gpu"]))
        _waiting(live_server, 1)
        cpu: Future[Any] = pool.submit(_claimer(live_server, "c", ["cpu"]))
        _waiting(live_server, 2)
        client.enqueue(task.id, "cpu")  # the gpu claim waits longest: a blind ring(1) would pick it
        claimed = cpu.result(timeout=LONG)
        assert claimed is not None and claimed.id == task.id
        assert not gpu.done()
        other = client.create_task(TaskRecord(name="two", script={"code": "pass"}))
        client.enqueue(other.id, "gpu")
        assert gpu.result(timeout=LONG).id == other.id


def test_a_batch_wakes_a_claim_for_each_new_task(live_server: Any) -> None:
    client = HttpBackend(live_server.url, live_server.key)
    client.ensure_queue("batch")
    ids = [client.create_task(TaskRecord(name=f"t{n}", script={"code": "pass"})).id for n in range(4)]
    with ThreadPoolExecutor(4) as pool:
        claims = [pool.submit(_claimer(live_server, f"w{n}", ["batch"])) for n in range(4)]
        _waiting(live_server, 4)
        client.enqueue_many(ids[:3], "batch")
        got: list[str] = []
        for claim in as_completed(claims, timeout=LONG):
            got.append(claim.result().id)
            if len(got) == 3:
                break
        assert sorted(got) == sorted(ids[:3])  # every task claimed once
        assert sum(not claim.done() for claim in claims) == 1  # the fourth claim still waits
        client.enqueue(ids[3], "batch")  # and takes the next task
        assert sorted(claim.result(timeout=LONG).id for claim in claims) == sorted(ids)


def test_a_claim_whose_caller_hung_up_leaves_the_task_to_others(live_server: Any) -> None:
    """An agent stopped mid long-poll: its claim notices the hang-up (before or after taking the
    new task) and the task goes to the next claimer instead of being lost with the connection."""
    import json
    import socket
    from urllib.parse import urlsplit

    client = HttpBackend(live_server.url, live_server.key)
    client.ensure_queue("hangup")
    task = client.create_task(TaskRecord(name="kept", script={"code": "pass"}))
    address = urlsplit(live_server.url)
    body = json.dumps({"queues": ["hangup"], "worker": "gone", "wait": LONG}).encode()
    head = (
        f"POST /api/claims HTTP/1.1\r\nHost: {address.netloc}\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {live_server.key}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection((address.hostname, address.port)) as hanging:
        hanging.sendall(head.encode() + body)
        _waiting(live_server, 1)
    client.enqueue(task.id, "hangup")  # wakes the hung-up claim, if it still waits
    claimed = _claimer(live_server, "next", ["hangup"])()
    assert claimed is not None and claimed.id == task.id and claimed.worker == "next"
