"""A scheduler on alice's laptop, the server on a machine of its own (tests/machines.py): all
it does goes through HTTP with alice's key. Its schedule launches a task that nothing serves,
limited to two seconds: the scheduler stops it with the reason. The server's API sees the loop
alive by its heartbeat; after a SIGKILL it sees it dead although nobody changed its task; the
same script started again takes the task up, alive again, and launches nothing twice."""

from __future__ import annotations

import signal
import sys
from typing import Any

import pytest
from tests.automation.conftest import wait_for

pytestmark = [pytest.mark.slow]

SCRIPT = """
from ductwork import Task
from ductwork.automation import TaskScheduler
from ductwork.core.queries import TaskQuery

scheduler = TaskScheduler(force_create_task_name="laptop", force_create_task_project="sched")
backend = scheduler._backend
found = backend.query_tasks(TaskQuery(name="base", archived=None))
base = found[0].id if found else Task.create(project_name="sched", task_name="base").id
scheduler.add_task(
    schedule_task_id=base, queue="nobody serves", name="once", minute=1 / 60, recurring=False,
    limit_execution_time=2 / 3600,
)
scheduler.start()
"""


def _shown(server: Any) -> dict[str, Any]:
    from ductwork.core.queries import TaskQuery

    own = server.backend(server.user_key).query_tasks(TaskQuery(system_tags=["scheduler"], archived=None))
    if not own:
        return {}
    with _client(server) as web:
        answer = web.get("/api/schedulers")
    assert answer.status_code == 200, answer.text
    return next((s for s in answer.json() if s["id"] == own[0].id), {})


def _client(server: Any) -> Any:
    import httpx

    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.user_key}"})


def test_a_laptop_scheduler_stops_an_overrun_and_the_server_sees_it_live_then_dead(machines: Any) -> None:
    from ductwork.core.queries import TaskQuery

    server = machines.server()
    laptop = machines.client("laptop")
    script = laptop.work / "scheduler.py"
    script.write_text(SCRIPT)
    first = laptop.start([sys.executable, script.name], "scheduler-1.log")

    launched = TaskQuery(runtime={"schedule": "once"}, archived=None)
    (task,) = wait_for(lambda: server.api.query_tasks(launched), 60)
    stopped = wait_for(lambda: (t := server.api.get_task(task.id)).status == "stopped" and t, 30)
    assert stopped.status_reason == "limit_execution_time", laptop.log("scheduler-1.log")
    shown = wait_for(lambda: (s := _shown(server)).get("running") and s, 30)
    (entry,) = shown["entries"]
    assert (entry["last_launch"], entry["timed_out"]) == ("stopped", 1)
    assert entry["last_note"].startswith("limit_execution_time: still queued 2 s after")

    first.send_signal(signal.SIGKILL)
    first.wait(10)
    dead = wait_for(lambda: (s := _shown(server)) and not s["running"] and s, 60)
    assert dead["heartbeat"]  # why, in words (its process died, or no heartbeat)

    laptop.start([sys.executable, script.name], "scheduler-2.log")
    again = wait_for(lambda: (s := _shown(server)).get("running") and s, 60)
    assert again["id"] == shown["id"] and again["status"] == "in_progress"
    assert [t.id for t in server.api.query_tasks(launched)] == [task.id]  # the one-time slot ran once
