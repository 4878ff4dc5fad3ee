"""NEW RUN, abort and continue of pipeline runs; live events; errors as JSON."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest

from ductwork.client.http import HttpBackend
from ductwork.core.errors import NotFound, StatusError, ValidationError
from ductwork.core.records import NodeState, Param, TaskRecord, Worker


def _run(backend: HttpBackend, name: str = "train pipeline") -> TaskRecord:
    project = backend.ensure_project("demo/.pipelines/train")
    run = backend.create_task(
        TaskRecord(
            name=name, project=project.id, type="controller", system_tags=["pipeline"], runtime={"_h": 1}
        )
    )
    backend.set_parameters(
        run.id,
        {
            "Args/epochs": Param(3, "int"),
            "Args/rate": Param(0.1, "float"),
            "Args/layers": Param([1, 2], "list"),
            "Args/fast": Param(False, "bool"),
            "pipeline/default_queue": Param("default", "str"),
        },
    )
    return run


@pytest.fixture
def http(live_server: Any) -> Any:
    backend = HttpBackend(live_server.url, live_server.key)
    backend.ensure_queue("services")
    yield backend
    backend.close()


def test_new_run_clones_casts_args_renames_and_enqueues(http: HttpBackend) -> None:
    run = _run(http)
    answer = http.new_run(run.id, {"epochs": "7", "rate": 1, "layers": "[4, 5]", "fast": "true"})
    assert answer["queue"] == "services" and answer["listening"] is False
    assert "ductwork agent --queue services" in answer["warning"]
    clone = http.get_task(answer["id"])
    assert clone.name == "train pipeline #2" and clone.status == "queued" and clone.user == "alice"
    assert clone.runtime == {}  # the old run's private state stays behind
    params = http.get_parameters(clone.id)
    assert params["Args/epochs"] == Param(7, "int")
    assert params["Args/rate"] == Param(1.0, "float")
    assert params["Args/layers"] == Param([4, 5], "list")
    assert params["Args/fast"] == Param(True, "bool")
    assert params["pipeline/default_queue"].value == "default"
    assert http.get_parameters(run.id)["Args/epochs"].value == 3  # the original is untouched
    http.register_worker(Worker(id="w", queues=["services"]))
    again = http.new_run(clone.id, {})
    assert again["listening"] is True and http.get_task(again["id"]).name == "train pipeline #3"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({"epochs": "many"}, "'epochs' must be int"),
        ({"nope": 1}, "unknown pipeline argument 'nope'"),
        ({"layers": "{}"}, "'layers' must be list"),
        ({"fast": "maybe"}, "'fast' must be bool"),
    ],
)
def test_new_run_refuses_bad_arguments_naming_them(
    http: HttpBackend, live_server: Any, args: Any, words: str
) -> None:
    run = _run(http)
    answer = httpx.post(
        f"{live_server.url}/api/runs/{run.id}/new",
        json={"args": args},
        headers={"Authorization": f"Bearer {live_server.key}"},
    )
    assert answer.status_code == 422, answer.text
    assert words in answer.json()["message"]
    assert http.count_tasks(__import__("ductwork.core.queries", fromlist=["TaskQuery"]).TaskQuery()) == 1


def test_new_run_of_a_plain_task_or_unknown_queue_is_refused(http: HttpBackend) -> None:
    plain = http.create_task(TaskRecord(name="plain"))
    with pytest.raises(ValidationError, match="not a pipeline run"):
        http.new_run(plain.id, {})
    with pytest.raises(NotFound, match="nope"):
        http.new_run(_run(http).id, {}, queue="nope")


def test_abort_run_stops_controller_steps_and_nodes(http: HttpBackend) -> None:
    run = _run(http)
    http.ensure_queue("default")
    http.enqueue(run.id, "services")
    http.claim(["services"], "agent-1")
    steps = [http.create_task(TaskRecord(name=f"s{i}", parent=run.id)) for i in range(3)]
    http.enqueue(steps[0].id, "default")
    http.enqueue(steps[1].id, "default")
    http.claim(["default"], "agent-2")  # s0 runs, s1 waits, s2 is a draft
    http.put_nodes(
        [
            NodeState(run.id, "s0", "running", steps[0].id),
            NodeState(run.id, "s1", "queued", steps[1].id),
            NodeState(run.id, "done", "completed"),
        ]
    )
    stopped = http.abort_run(run.id)
    assert set(stopped) == {run.id, steps[0].id, steps[1].id}
    assert [http.get_task(t.id).status for t in steps] == ["stopped", "stopped", "created"]
    assert http.queue_entries("default") == []
    assert {n.name: n.status for n in http.get_nodes(run.id)} == {
        "s0": "aborted",
        "s1": "aborted",
        "done": "completed",
    }
    answer = http._call("POST", f"/api/runs/{run.id}/continue", json={})
    assert answer["id"] == run.id and http.get_task(run.id).status == "queued"
    with pytest.raises(StatusError):
        http._call("POST", f"/api/runs/{run.id}/continue", json={})


def test_abort_task_endpoint(http: HttpBackend) -> None:
    task = http.create_task(TaskRecord(name="t"))
    with pytest.raises(StatusError, match="only a queued or running"):
        http.abort_task(task.id)
    http.ensure_queue("default")
    http.enqueue(task.id, "default")
    assert http.abort_task(task.id).status == "stopped"
    assert http.queue_entries("default") == []


def test_errors_are_json_never_500(live_server: Any) -> None:
    auth = {"Authorization": f"Bearer {live_server.key}"}
    cases = [
        ("GET", "/api/tasks/missing", None, 404),
        ("POST", "/api/tasks", {"name": ["x"]}, 422),
        ("POST", "/api/tasks/query", {"limit": "lots"}, 422),
        ("POST", "/api/claims", {"queues": [], "worker": "w"}, 422),
        ("GET", "/api/nothing-here", None, 404),
        ("POST", "/api/queues/none/entries", {"task_id": "x"}, 404),
        ("GET", "/api/events", None, 422),
        ("GET", "/api/tasks/x/artifacts/a/content", None, 404),
    ]
    for method, path, body, status in cases:
        answer = httpx.request(method, f"{live_server.url}{path}", json=body, headers=auth)
        assert answer.status_code == status, (path, answer.text)
        assert set(answer.json()) == {"error", "message"} and answer.json()["message"]


def test_live_events_push_task_and_node_changes(http: HttpBackend, live_server: Any) -> None:
    run = _run(http)
    step = http.create_task(TaskRecord(name="step", parent=run.id))
    seen: list[tuple[str, dict[str, Any]]] = []
    opened = threading.Event()

    def listen() -> None:
        headers = {"Authorization": f"Bearer {live_server.key}"}
        with httpx.stream(
            "GET", f"{live_server.url}/api/events", params={"run": run.id}, headers=headers, timeout=10
        ) as answer:
            event = ""
            for line in answer.iter_lines():
                opened.set()
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    seen.append((event, json.loads(line[6:])))
                    if event == "node" and seen[-1][1]["status"] == "completed":
                        return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert opened.wait(5)
    time.sleep(0.2)
    # Spaced out so each state is its own event (a stream may coalesce changes within a tick).
    http.set_status(step.id, "in_progress")
    time.sleep(0.3)
    http.put_nodes([NodeState(run.id, "step", "running", step.id)])
    time.sleep(0.3)
    http.put_nodes([NodeState(run.id, "step", "completed", step.id)])
    listener.join(10)
    assert not listener.is_alive(), seen
    statuses = [(e, d.get("name"), d["status"]) for e, d in seen]
    assert ("task", "step", "created") in statuses  # the snapshot
    assert ("task", "step", "in_progress") in statuses
    assert ("node", "step", "running") in statuses and ("node", "step", "completed") in statuses


def test_live_events_see_writes_of_other_processes(http: HttpBackend, live_server: Any) -> None:
    """A write straight to the store (as an embedded-store agent makes) reaches the stream."""
    task = http.create_task(TaskRecord(name="solo"))
    found = threading.Event()

    def listen() -> None:
        headers = {"Authorization": f"Bearer {live_server.key}"}
        with httpx.stream(
            "GET", f"{live_server.url}/api/events", params={"task": task.id}, headers=headers, timeout=10
        ) as answer:
            for line in answer.iter_lines():
                if line.startswith("data: ") and json.loads(line[6:])["status"] == "completed":
                    found.set()
                    return

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    time.sleep(0.5)
    live_server.store.set_status(task.id, "completed")  # bypasses the server's doorbells
    assert found.wait(5)


def test_artifact_bytes_through_the_server(
    http: HttpBackend, live_server: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that cannot see the server's artifact root uploads and downloads through it."""
    from ductwork.core.records import ArtifactRecord

    task = http.create_task(TaskRecord(name="t"))
    payload = bytes(range(256)) * 4000
    stored = http.upload_artifact_content(
        task.id, "weights", iter([payload[:5000], payload[5000:]]), extension=".bin"
    )
    assert stored["size"] == len(payload) and stored["uri"].startswith(str(tmp_path / "server-artifacts"))
    http.put_artifact(
        ArtifactRecord(
            task.id, "weights", "file", uri=stored["uri"], hash=stored["hash"], size=stored["size"]
        )
    )
    assert b"".join(http.download_artifact_content(task.id, "weights")) == payload
    # same host: the client sees the server's token, so it may write directly
    assert http.sends_artifacts_through_server() is False
    # object storage: directly when this machine reaches it (probed, artifacts.reach), else
    # through the server (here the probe's answer is given: no network in this test)
    from ductwork.artifacts import reach

    monkeypatch.setattr(reach, "unreachable", lambda root: None)
    assert http.sends_artifacts_through_server("s3://bucket/x") is False
    monkeypatch.setattr(reach, "unreachable", lambda root: "NoCredentialsError: Unable to locate credentials")
    assert http.sends_artifacts_through_server("s3://bucket/x") is True
    # a record pointing outside the root is refused when recorded (and would not be served)
    with pytest.raises(ValidationError, match="artifact 'secret': uri '/etc/hostname' is outside"):
        http.put_artifact(ArtifactRecord(task.id, "secret", "file", uri="/etc/hostname"))
    with pytest.raises(NotFound, match="no artifact 'secret'"):
        b"".join(http.download_artifact_content(task.id, "secret"))
    with pytest.raises(ValidationError, match="extension"):
        http.upload_artifact_content(task.id, "x", b"1", extension="../evil")
    with pytest.raises(NotFound):
        http.upload_artifact_content("missing-task", "x", b"1")


def test_watchdog_settles_tasks_whose_worker_is_gone(live_server: Any, monkeypatch: Any) -> None:
    """A task claimed by a worker that never registered (or was unregistered mid-claim) is
    failed by the server's watchdog once it has been silent for the heartbeat timeout."""
    from ductwork.core import orphans

    http = HttpBackend(live_server.url, live_server.key)
    http.ensure_queue("default")
    task = http.create_task(TaskRecord(name="t"))
    http.enqueue(task.id, "default")
    http.claim(["default"], "ghost")
    assert orphans.reap(live_server.store, timeout=30, scan_tasks=True) == []  # not silent yet
    assert orphans.reap(live_server.store, timeout=30, now=time.time() + 31) == []  # not scanned
    assert orphans.reap(live_server.store, timeout=30, now=time.time() + 31, scan_tasks=True) == [task.id]
    failed = http.get_task(task.id)
    assert failed.status == "failed" and "ghost" in failed.status_message


def test_a_claim_for_a_caller_that_hung_up_goes_back_to_the_queue(live_server: Any) -> None:
    """An agent stopped during its long poll: the task claimed for it is queued again."""
    import asyncio

    from ductwork.server.services import claims

    http = HttpBackend(live_server.url, live_server.key)
    http.ensure_queue("default")
    task = http.create_task(TaskRecord(name="t"))
    http.enqueue(task.id, "default")
    hub = live_server.app.state.hub

    async def hung_up() -> bool:
        return True

    assert asyncio.run(claims.claim(hub, ["default"], "w", 0.0, hung_up)) is None
    back = http.get_task(task.id)
    assert back.status == "queued" and [e.task_id for e in http.queue_entries("default")] == [task.id]


def test_an_unreachable_server_is_a_storage_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from ductwork.core.errors import StorageError

    monkeypatch.setenv("DUCTWORK_RETRY_WINDOW", "0.3")  # retried for this long, then the error

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = HttpBackend(f"http://127.0.0.1:{port}", "dkx.y")
    with pytest.raises(StorageError, match=f"127.0.0.1:{port}.*retried for 0.3 s"):
        backend.list_queues()
    with pytest.raises(StorageError):
        b"".join(backend.download_artifact_content("t", "a"))
    with pytest.raises(ValidationError, match="http://host:port"):
        HttpBackend("ftp://nowhere")


def test_long_poll_wakes_for_work_enqueued_by_another_process(live_server: Any) -> None:
    """An enqueue straight into the store (an embedded agent's controller, another server)
    wakes a waiting claim: by NOTIFY on PostgreSQL (the live feed has no timer there), by the
    live feed's data_version check on SQLite (tests/integration/server/test_live_feed.py)."""
    store = live_server.store
    http = HttpBackend(live_server.url, live_server.key)
    http.ensure_queue("default")
    task = store.create_task(TaskRecord(name="t"))
    result: dict[str, Any] = {}

    def wait() -> None:
        result["task"] = http.wait_claim(["default"], "w", wait=20)
        result["at"] = time.monotonic()

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(1.0)
    enqueued = time.monotonic()
    store.enqueue(task.id, "default")
    waiter.join(25)
    assert result["task"].id == task.id
    assert result["at"] - enqueued < 15.0  # not the 20 s long poll, nor a 30 s watcher tick
