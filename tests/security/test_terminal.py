"""Finding 7: stored text printed by the CLI cannot act on the user's terminal.

A task name, a status message, a console line, a run's step name and note are stored with
escape sequences (clear screen, window title, 8-bit CSI, a bidi override, a bell) and rich
markup; `ductwork tasks show`, `tasks list`, `pipelines list` and `pipelines show` print
them as visible escapes, both on the server's machine (embedded store) and over HTTP.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from attack import ServerProcess

# Clear the screen, set the window title, an 8-bit CSI, a bidi override, a bell, DEL, a
# carriage return that would overwrite the line, and markup rich would otherwise apply.
EVIL = "ok\x1b[2J\x1b]0;pwned\x07\x9b31m\u202eevil\x7f\rfake [bold red]loud[/bold red]"
RAW = ("\x1b", "\x07", "\x9b", "\u202e", "\x7f", "\r")


def _assert_inert(output: str) -> None:
    for character in RAW:
        assert character not in output, f"{character!r} reached the terminal:\n{output!r}"
    assert "\\x1b[2J" in output, output  # shown, not executed
    assert "[bold red]loud[/bold red]" in output, output  # markup shown as written


@pytest.fixture
def evil_run(server: ServerProcess) -> dict[str, Any]:
    """A task and a pipeline run of alice's whose stored text is hostile."""
    tag = uuid.uuid4().hex[:6]
    with server.client(server.alice.key) as alice:
        task = alice.post("/api/tasks", json={"name": f"{EVIL} {tag}", "tags": [EVIL]}).json()
        lines = [
            {"task_id": task["id"], "text": f"console {EVIL}\n", "stream": "stdout"},
            {"task_id": task["id"], "text": "tab\there and a second line\nnext", "stream": "stderr"},
        ]
        assert alice.post("/api/console", json=lines).status_code == 204
        answer = alice.post(f"/api/tasks/{task['id']}/status", json={"status": "in_progress"})
        assert answer.status_code == 200, answer.text
        answer = alice.post(
            f"/api/tasks/{task['id']}/status", json={"status": "failed", "message": EVIL, "reason": EVIL}
        )
        assert answer.status_code == 200, answer.text
        run = alice.post(
            "/api/tasks",
            json={"name": f"{EVIL} run {tag}", "type": "controller", "system_tags": ["pipeline"]},
        ).json()
        node = {"run_id": run["id"], "name": EVIL, "status": "failed", "message": EVIL}
        answer = alice.post("/api/nodes", json=[node])
        assert answer.status_code == 204, answer.text
    return {"task": task["id"], "run": run["id"]}


def _over_http(server: ServerProcess) -> dict[str, str]:
    return {**server.env, "DUCTWORK_API_URL": server.url, "DUCTWORK_API_KEY": server.alice.key}


@pytest.mark.parametrize("where", ["embedded", "http"])
def test_stored_escape_sequences_are_printed_inert(
    server: ServerProcess, evil_run: dict[str, Any], where: str
) -> None:
    env = server.env if where == "embedded" else _over_http(server)
    env = {**env, "COLUMNS": "1000"}  # whole cells, so the markup is found unwrapped
    saved = server.env
    server.env = env
    try:
        shown = server.cli("tasks", "show", evil_run["task"]).stdout
        _assert_inert(shown)
        assert "console ok" in shown
        # Console text keeps its layout: the tab and the line break are still there.
        assert "tab" in shown and "here and a second line\nnext" in shown, shown
        _assert_inert(server.cli("tasks", "list", "-n", "200").stdout)
        _assert_inert(server.cli("pipelines", "list", "--limit", "200").stdout)
        _assert_inert(server.cli("pipelines", "show", evil_run["run"]).stdout)
    finally:
        server.env = saved


def test_an_error_quoting_a_stored_name_is_printed_inert(server: ServerProcess) -> None:
    done = server.cli("tasks", "show", "\x1b[2Jnot-a-task", check=False)
    assert done.returncode == 1
    assert "\x1b" not in done.stdout + done.stderr
    assert "\\x1b[2J" in done.stderr, done.stderr


def test_printable_keeps_console_layout_and_escapes_everything_else() -> None:
    from ductwork.core.display import printable

    assert printable("a\tb\nc", lines=True) == "a\tb\nc"
    assert printable("a\tb\nc") == "a\\tb\\nc"
    assert printable(EVIL) == (
        "ok\\x1b[2J\\x1b]0;pwned\\x07\\x9b31m\\u202eevil\\x7f\\rfake [bold red]loud[/bold red]"
    )
    for code in [*range(0x20), 0x7F, *range(0x80, 0xA0), 0x202E, 0x2066, 0x200F]:
        assert chr(code) not in printable(f"x{chr(code)}y"), hex(code)
    assert printable("héllo wörld ✓ 日本") == "héllo wörld ✓ 日本"
