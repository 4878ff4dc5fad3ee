"""`ductwork scheduler list`: every schedule and trigger of every scheduler task, with its
last and next firing, read from what the schedulers keep on their tasks (see state.py)."""

from __future__ import annotations

import json
from typing import Any

import click

from ductwork.core.display import mask_secrets, printable
from ductwork.core.errors import DuctworkError

_COLUMNS = ("scheduler", "status", "entry", "kind", "fires", "when", "last", "next", "fired", "skipped")


def entries(include_stopped: bool = True) -> list[dict[str, Any]]:
    """One row per schedule or trigger entry, newest scheduler first."""
    from ductwork import client
    from ductwork.core.queries import TaskQuery
    from ductwork.core.schedulers import SCHEDULER_TAG, STATE_CONFIG

    backend = client.backend()
    rows: list[dict[str, Any]] = []
    for task in backend.query_tasks(
        TaskQuery(system_tags=[SCHEDULER_TAG], archived=None, order_by="-updated")
    ):
        if not include_stopped and task.status != "in_progress":
            continue
        kind = str(task.runtime.get("scheduler") or "schedule")
        configs = backend.get_configurations(task.id)
        section = configs.get("triggers" if kind == "trigger" else "schedule")
        stored = configs.get(STATE_CONFIG)
        definitions = _json(section.text if section else "", [])
        state = _json(stored.text if stored else "", {})
        for d in definitions if isinstance(definitions, list) else []:
            rows.append(_row(task.id, task.name, task.status, kind, d, state.get(str(d.get("name")), {})))
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
        "next": upcoming,
        "fired": int(st.get("fired") or 0),
        "skipped": int(st.get("skipped") or 0),
    }


def _json(text: str, empty: Any) -> Any:
    try:
        return json.loads(text) if text else empty
    except ValueError:
        return empty


@click.group("scheduler")
def scheduler() -> None:
    """Task schedules and triggers (TaskScheduler, TriggerScheduler)."""


@scheduler.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON list of entries.")
@click.option("--running", is_flag=True, help="Only schedulers whose task is running.")
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

    table = Table(*_COLUMNS)
    for row in rows:
        table.add_row(*(escape(printable("" if row[c] is None else row[c])) for c in _COLUMNS))
    console = Console(emoji=False)
    if not console.is_terminal:
        console.width = max(console.width, 200)
    console.print(table)
