"""Attacks on the Schedules page and `GET /api/schedulers`, against a real server process.

Who may see: no one without a key or a session; every signed-in account sees every scheduler,
as it sees every task (this server has no private projects: `read` is every role's, see
services/permissions.py), so bob and carol reading alice's scheduler is the rule, not a leak.
What is shown: a scheduler's task and configuration objects are written by anyone who may
write to that task, so every stored value is hostile. Markup must arrive escaped, and a NUL, a
huge or deeply nested value or a value of the wrong type shows as "invalid", page still up.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from attack import Account, ServerProcess

MARKUP = '<img src=x onerror="alert(1)">'
HOSTILE_STATE = {
    "tick": {
        "next": "2026-13-45T99:99:99",  # not a date
        "last_fired": "\x00" + "9" * 400_000,  # a NUL, and huge
        "last_task": "../../api/users",  # not a task id
        "fired": "many",
        "skipped": -1,
    },
    f"{MARKUP}": {"next": MARKUP},
}


def _scheduler(server: ServerProcess, owner: Account, name: str, definitions: str, state: str) -> str:
    """A task marked as a scheduler, with stored definitions and state, created with `owner`'s key."""
    with server.client(owner.key) as client:
        made = client.post(
            "/api/tasks",
            json={"name": name, "system_tags": ["scheduler"], "runtime": {"scheduler": "schedule"}},
        )
        assert made.status_code == 200, made.text
        task_id = str(made.json()["id"])
        for section, text in (("schedule", definitions), ("state", state)):
            stored = client.put(f"/api/tasks/{task_id}/configuration", json={"name": section, "text": text})
            assert stored.status_code == 204, stored.text
    return task_id


def _listed(server: ServerProcess, account: Account, task_id: str) -> dict[str, Any]:
    with server.client(account.key) as client:
        answer = client.get("/api/schedulers")
    assert answer.status_code == 200, answer.text
    (found,) = [s for s in answer.json() if s["id"] == task_id]
    return dict(found)


def test_without_a_key_or_a_session_nothing_is_shown(server: ServerProcess) -> None:
    name = f"secret-{uuid.uuid4().hex[:8]}"
    _scheduler(server, server.alice, name, json.dumps([{"name": "tick", "minute": 5}]), "{}")
    with server.client() as anonymous:
        api = anonymous.get("/api/schedulers")
        page = anonymous.get("/schedulers", headers={"Accept": "text/html"})
    with server.client("not-a-key") as forged:
        wrong = forged.get("/api/schedulers")
    assert api.status_code == 401 and wrong.status_code == 401
    assert page.status_code in (302, 303, 307) and page.headers["location"].startswith("/login")
    assert name not in api.text + page.text + wrong.text


def test_every_account_reads_every_scheduler_as_it_reads_tasks(server: ServerProcess) -> None:
    definitions = json.dumps([{"name": "tick", "minute": 5}])
    task_id = _scheduler(server, server.alice, f"shared-{uuid.uuid4().hex[:8]}", definitions, "{}")
    for reader in (server.bob, server.carol):
        (entry,) = _listed(server, reader, task_id)["entries"]
        assert entry["rule"] == "every 5 minute" and entry["fired"] == 0
        with server.client(reader.key) as client:
            assert client.get(f"/api/tasks/{task_id}").status_code == 200  # the same rule as a task


def test_hostile_stored_values_show_as_invalid_and_escaped(server: ServerProcess) -> None:
    definitions = json.dumps([{"name": "tick", "minute": "soon"}, {"name": MARKUP, "base_task_id": MARKUP}])
    task_id = _scheduler(server, server.alice, MARKUP, definitions, json.dumps(HOSTILE_STATE))
    shown = _listed(server, server.bob, task_id)
    tick, marked = shown["entries"]
    assert (tick["next"], tick["last"], tick["last_task"]) == ("invalid", "invalid", "invalid")
    assert (tick["fired"], tick["skipped"], tick["rule"]) == (None, None, "minute invalid")
    assert marked["next"] == "invalid" and marked["name"] == MARKUP  # JSON carries it as data
    browser = server.login("bob", server.bob.password)
    page = browser.get("/schedulers")
    assert page.status_code == 200
    assert MARKUP not in page.text and "&lt;img src=x onerror=" in page.text
    assert "\x00" not in page.text and "9" * 1000 not in page.text


def test_unreadable_state_or_definitions_name_the_problem(server: ServerProcess) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    cases = {
        "state": (json.dumps([{"name": "tick", "minute": 5}]), deep),
        "schedule": ("{not json", "{}"),
        "both": ('"a string"', "[1, 2]"),
    }
    for label, (definitions, state) in cases.items():
        task_id = _scheduler(server, server.alice, f"broken-{label}", definitions, state)
        shown = _listed(server, server.bob, task_id)
        assert "invalid" in shown["problem"], (label, shown)
        assert shown["entries"] == [] or label == "state"
    browser = server.login("bob", server.bob.password)
    assert "stored data cannot be read" in browser.get("/schedulers").text
