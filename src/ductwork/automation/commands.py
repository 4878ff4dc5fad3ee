"""`ductwork scheduler list`: every schedule and trigger of every scheduler task, with its
last and next firing, read from what the schedulers keep on their tasks (see state.py)."""

from __future__ import annotations

import json
from typing import Any

import click

from ductwork.core.display import mask_secrets, printable
from ductwork.core.errors import DuctworkError

_COLUMNS = (
    "scheduler",
    "loop",
    "entry",
    "kind",
    "fires",
    "when",
    "last",
    "last launch",
    "next",
    "fired",
    "skipped",
)


def entries(include_stopped: bool = True) -> list[dict[str, Any]]:
    """One row per schedule or trigger entry, newest scheduler first. `include_stopped=False`:
    only schedulers whose loop is alive (its heartbeat, not just its task's status)."""
    import time

    from ductwork import client
    from ductwork.core import liveness, orphans
    from ductwork.core.queries import TaskQuery
    from ductwork.core.schedulers import SCHEDULER_TAG, STATE_CONFIG

    backend = client.backend()
    workers, now, timeout = backend.list_workers(), time.time(), orphans.heartbeat_timeout()
    rows: list[dict[str, Any]] = []
    for task in backend.query_tasks(
        TaskQuery(system_tags=[SCHEDULER_TAG], archived=None, order_by="-updated")
    ):
        loop = liveness.scheduler_liveness(task, workers, now, timeout)
        if not include_stopped and not loop.alive:
            continue
        kind = str(task.runtime.get("scheduler") or "schedule")
        configs = backend.get_configurations(task.id)
        section = configs.get("triggers" if kind == "trigger" else "schedule")
        stored = configs.get(STATE_CONFIG)
        definitions = _json(section.text if section else "", [])
        state = _json(stored.text if stored else "", {})
        for d in [d for d in definitions if isinstance(d, dict)] if isinstance(definitions, list) else []:
            st = state.get(str(d.get("name"))) if isinstance(state, dict) else None
            row = _row(task.id, task.name, task.status, kind, d, st if isinstance(st, dict) else {})
            rows.append({**row, "alive": loop.alive, "loop": loop.note})
    _add_launches(backend, rows, workers, now, timeout)
    return rows


def _row(
    task_id: str, name: str, status: str, kind: str, d: dict[str, Any], st: dict[str, Any]
) -> dict[str, Any]:
    if kind == "trigger":
        filters = ("kind", "project", "match_name", "tags", "required_tags", "on_status", "on_publish")
        when = ", ".join(f"{k}={d[k]}" for k in filters if d.get(k))
        upcoming = "on event"
    else:
        times = ("minute", "hour", "day", "weekdays", "month", "year")
        when = ", ".join(f"{k}={d[k]}" for k in times if d.get(k) is not None)
        upcoming = st.get("next") or ("done" if st.get("fired") and not d.get("recurring", True) else "")
    skip = st.get("last_skip")
    return {
        "scheduler": task_id,
        "scheduler_name": name,
        "status": status,
        "entry": d.get("name"),
        "kind": kind,
        "fires": d.get("base_task_id") or f"{d.get('base_function')}()",
        "when": when,
        "last": st.get("last_fired"),
        "last_task": st.get("last_task"),
        "last_call": st.get("last_call") if d.get("base_function") else None,
        "next": upcoming,
        "fired": _count(st.get("fired")),
        "skipped": _count(st.get("skipped")),
        "last_skip": skip.get("why") if isinstance(skip, dict) else None,
        "timed_out": _count(st.get("timed_out")),
    }


def _add_launches(
    backend: Any, rows: list[dict[str, Any]], workers: list[Any], now: float, timeout: float
) -> None:
    """Each row's last launch as it really is: the launched task's status (and whether what
    runs it still beats), or the function call's outcome."""
    from ductwork.core import liveness
    from ductwork.core.queries import TaskQuery

    ids = sorted({str(r["last_task"]) for r in rows if r["last_task"]})
    # get_tasks refuses unknown ids; a last task may have been deleted since
    tasks = {t.id: t for t in backend.query_tasks(TaskQuery(ids=ids, archived=None))} if ids else {}
    for row in rows:
        if row["last_call"] is not None:
            launch = liveness.call_state(row["last_call"], row["alive"])
        elif row["last_task"]:
            launch = liveness.launch_state(tasks.get(str(row["last_task"])), workers, now, timeout)
        else:
            launch = liveness.LaunchState("", False)
        row.update(last_launch=launch.state, last_active=launch.active, last_note=launch.note)


def _count(value: Any) -> int | None:
    """A stored count (None when it is not one: anyone may edit a scheduler's state)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0 if value is None else None


def _json(text: str, empty: Any) -> Any:
    try:
        return json.loads(text) if text else empty
    except (ValueError, RecursionError):
        return empty


@click.group("scheduler")
def scheduler() -> None:
    """Task schedules and triggers (TaskScheduler, TriggerScheduler)."""


@scheduler.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON list of entries.")
@click.option("--running", is_flag=True, help="Only schedulers whose loop is alive (it beats).")
def list_entries(as_json: bool, running: bool) -> None:
    """Every schedule and trigger, with its last and next firing (UTC)."""
    try:
        rows = entries(include_stopped=not running)
    except DuctworkError as exc:
        raise click.ClickException(printable(mask_secrets(exc))) from exc
    if as_json:
        click.echo(json.dumps(rows, indent=1))
        return
    if not rows:
        click.echo("no schedulers yet (a TaskScheduler or TriggerScheduler creates one when started)")
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table()
    for column in _COLUMNS:  # the scheduler's task id whole, never wrapped nor cut
        table.add_column(
            column, no_wrap=column == "scheduler", min_width=32 if column == "scheduler" else None
        )
    for row in rows:
        shown = {
            **row,
            "loop": f"{'alive' if row['alive'] else 'NOT RUNNING'}: {row['loop']}",
            "last launch": ": ".join(str(v) for v in (row["last_launch"], row["last_note"]) if v),
            "skipped": f"{row['skipped']} ({row['last_skip']})" if row["last_skip"] else row["skipped"],
        }
        table.add_row(*(escape(printable("" if shown[c] is None else shown[c])) for c in _COLUMNS))
    console = Console(emoji=False)
    if not console.is_terminal:
        console.width = max(console.width, 200)
    console.print(table)
