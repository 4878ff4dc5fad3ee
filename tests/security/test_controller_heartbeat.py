"""A user's own local controller keeps a heartbeat on the server (so its death is found from
any machine), but that is all an ordinary key may do with workers: no worker for someone
else's task, none that serves a queue, and no touching another user's controller."""

from __future__ import annotations

import uuid

from attack import ServerProcess


def _controller(task_id: str) -> str:
    return f"controller:laptop:{4242}:{task_id}"


def test_a_user_beats_for_their_own_controller_only(server: ServerProcess) -> None:
    with server.client(server.alice.key) as alice, server.client(server.bob.key) as bob:
        mine = alice.post("/api/tasks", json={"name": f"run-{uuid.uuid4().hex[:6]}"}).json()["id"]
        theirs = bob.post("/api/tasks", json={"name": f"run-{uuid.uuid4().hex[:6]}"}).json()["id"]
        worker = {"id": _controller(mine), "queues": [], "task_id": mine, "host": "laptop", "pid": 4242}

        assert alice.post("/api/workers", json=worker).status_code == 204
        assert (
            alice.post(f"/api/workers/{_controller(mine)}/heartbeat", json={"task_id": mine}).status_code
            == 204
        )

        # bob may neither beat for nor remove alice's controller
        answer = bob.post(f"/api/workers/{_controller(mine)}/heartbeat", json={"task_id": mine})
        assert answer.status_code == 403 and "bob may not" in answer.json()["message"]
        assert bob.delete(f"/api/workers/{_controller(mine)}").status_code == 403
        ids = [w["id"] for w in alice.get("/api/workers").json()]
        assert _controller(mine) in ids

        # a controller worker for bob's task, one that serves a queue, or a plain worker: refused
        forged = {**worker, "id": _controller(theirs), "task_id": theirs}
        assert alice.post("/api/workers", json=forged).status_code == 403
        serving = {**worker, "queues": ["default"]}
        assert alice.post("/api/workers", json=serving).status_code == 403
        mismatched = {**worker, "id": _controller(theirs)}
        assert alice.post("/api/workers", json=mismatched).status_code == 403
        assert _controller(theirs) not in [w["id"] for w in alice.get("/api/workers").json()]

        assert alice.delete(f"/api/workers/{_controller(mine)}").status_code == 204
        assert _controller(mine) not in [w["id"] for w in alice.get("/api/workers").json()]
