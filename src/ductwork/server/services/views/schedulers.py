"""Schedulers (TaskScheduler, TriggerScheduler): each one's entries with their rule in words,
next and last firing, the last task started and the counts, read from what the schedulers keep
on their own task (the names in `core.schedulers`). Whether a scheduler's loop is alive and what
its last launch is really doing are judged by heartbeats (`core.liveness`), not by statuses a
killed process leaves behind.

Everything read here was written by a process the server does not trust (a scheduler, or
anyone editing its task's configuration): a value of the wrong type, a NUL, a huge or deeply
nested document is shown as "invalid" and never breaks the page.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ductwork.core import liveness, orphans, schedulers
from ductwork.core.display import printable
from ductwork.core.patterns import Pattern
from ductwork.core.queries import TaskQuery
from ductwork.core.records import TaskRecord, Worker
from ductwork.server.services.views.common import Reader

INVALID = "invalid"
MAX_DOCUMENT = 1_000_000  # characters of one stored JSON document read at all
MAX_TEXT = 200  # characters of one stored value shown
MAX_ENTRIES = 500  # entries of one scheduler shown
MAX_COUNT = 10**15
_TASK_ID = Pattern(r"[A-Za-z0-9_.:-]{1,64}")
_TIMES = ("year", "month", "weekdays", "day", "hour", "minute")
_FILTERS = ("project", "match_name", "tags", "required_tags", "on_status")


@dataclass
class EntryView:
    name: str
    rule: str
    fires: str
    next: str  # "YYYY-MM-DD HH:MM:SS UTC", "on event", "done", "" or INVALID
    last: str
    last_task: str  # a task id, "" or INVALID
    last_task_name: str  # the task's name when it exists (the page links to it)
    fired: int | None  # None: the stored count is invalid
    skipped: int | None
    last_skip: str = ""  # why the last slot was skipped
    timed_out: int | None = 0  # launched tasks stopped by limit_execution_time
    last_launch: str = ""  # queued, running, completed, failed, stopped, draft, deleted, lost, ""
    last_active: bool = False  # the last launch still holds its slot (queued, or running and beating)
    last_note: str = ""  # a final status's message, or why a running one is doubtful
    last_call: str = ""  # a function entry's last call as its scheduler recorded it


@dataclass
class SchedulerView:
    id: str
    name: str
    kind: str  # "schedule", "trigger" or INVALID
    status: str
    running: bool  # its loop is alive: the task is in_progress and its process beats
    heartbeat: str = ""  # the loop's liveness in words ("heartbeat 2 s ago", "no heartbeat for 40 s")
    heartbeat_age: float | None = None  # seconds since its newest heartbeat (None: none)
    problem: str = ""  # why the definitions or the state could not be read
    entries: list[EntryView] = field(default_factory=list)


def schedulers_view(store: Reader, heartbeat_timeout: float | None = None) -> list[SchedulerView]:
    """Every scheduler task, newest change first, with its entries."""
    tasks = store.query_tasks(
        TaskQuery(system_tags=[schedulers.SCHEDULER_TAG], archived=None, order_by="-updated")
    )
    workers, now = store.list_workers(), time.time()
    timeout = orphans.heartbeat_timeout() if heartbeat_timeout is None else heartbeat_timeout
    found = [_scheduler(store, t, liveness.scheduler_liveness(t, workers, now, timeout)) for t in tasks]
    _add_last_tasks(store, found, workers, now, timeout)
    return found


def _scheduler(store: Reader, task: TaskRecord, loop: liveness.Liveness) -> SchedulerView:
    raw_kind = task.runtime.get(schedulers.KIND_KEY) or schedulers.SCHEDULE
    kind = raw_kind if raw_kind in (schedulers.SCHEDULE, schedulers.TRIGGER) else INVALID
    view = SchedulerView(
        id=task.id,
        name=_text(task.name),
        kind=kind,
        status=task.status,
        running=loop.alive,
        heartbeat=_text(loop.note),
        heartbeat_age=loop.heartbeat_age,
    )
    if kind == INVALID:
        view.problem = "its kind is invalid"
        return view
    configs = store.get_configurations(task.id)
    section = configs.get(schedulers.definitions_config(kind))
    stored = configs.get(schedulers.STATE_CONFIG)
    definitions = _document(section.text if section else "", [])
    state = _document(stored.text if stored else "", {})
    problems = []
    if not isinstance(definitions, list):
        problems, definitions = [f"its {schedulers.definitions_config(kind)} is invalid"], []
    if not isinstance(state, dict):
        problems, state = [*problems, "its state is invalid"], {}
    view.problem = "; ".join(problems)
    view.entries = [
        _entry(kind, d, state.get(d.get("name")) if isinstance(d.get("name"), str) else None)
        for d in definitions[:MAX_ENTRIES]
        if isinstance(d, dict)
    ]
    return view


def _document(text: str, empty: Any) -> Any:
    """The stored JSON, `empty` when there is none, None when it cannot be read."""
    if not text:
        return empty
    if len(text) > MAX_DOCUMENT or "\x00" in text:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _entry(kind: str, d: dict[str, Any], st: Any) -> EntryView:
    st = st if isinstance(st, dict) else {}
    last_task = st.get("last_task")
    skip = st.get("last_skip")
    if kind == schedulers.TRIGGER:
        upcoming = "on event"
    elif st.get("next") is not None:
        upcoming = _moment(st.get("next"))
    else:
        done = st.get("fired") and d.get("recurring", True) is False
        upcoming = "done" if done else ""
    return EntryView(
        name=_text(d.get("name")),
        rule=trigger_words(d) if kind == schedulers.TRIGGER else schedule_words(d),
        fires=_text(
            d.get("base_task_id") or (f"{d.get('base_function')}()" if d.get("base_function") else "")
        ),
        next=upcoming,
        last=_moment(st.get("last_fired")) if st.get("last_fired") is not None else "",
        last_task=_task_id(last_task),
        last_task_name="",
        fired=_count(st.get("fired", 0)),
        skipped=_count(st.get("skipped", 0)),
        last_skip=_text(skip.get("why", "")) if isinstance(skip, dict) else INVALID if skip else "",
        timed_out=_count(st.get("timed_out", 0)),
        last_call=_text(st.get("last_call", "")) if d.get("base_function") else "",
    )


def _add_last_tasks(
    store: Reader, found: list[SchedulerView], workers: list[Worker], now: float, timeout: float
) -> None:
    """Each entry's last launch as it really is: the launched task's status (and whether what
    runs it still beats) or the function call's outcome; and the name of each last task that
    still exists (the page links only to those)."""
    entries = [(s, e) for s in found for e in s.entries]
    ids = sorted({e.last_task for _, e in entries if e.last_task and e.last_task != INVALID})
    # get_tasks refuses unknown ids; a last task may have been deleted since
    tasks = {t.id: t for t in store.query_tasks(TaskQuery(ids=ids, archived=None))} if ids else {}
    for scheduler, e in entries:
        task = tasks.get(e.last_task)
        e.last_task_name = _text(task.name) if task is not None else ""
        if e.last_call:
            launch = liveness.call_state(e.last_call, scheduler.running)
        elif e.last_task and e.last_task != INVALID:
            launch = liveness.launch_state(task, workers, now, timeout)
        else:
            launch = liveness.LaunchState("", False)
        e.last_launch, e.last_active, e.last_note = launch.state, launch.active, _text(launch.note)


def schedule_words(d: dict[str, Any]) -> str:
    """ClearML's time arguments in words: the longest unit given sets the period."""
    given = {k: d.get(k) for k in _TIMES if d.get(k) not in (None, "", [], 0)}
    if not given:
        return INVALID
    parts: list[str] = []
    for unit in _TIMES:
        if unit in given:
            parts.append(_unit(unit, given[unit], first=not parts))
    once = "" if d.get("recurring", True) is not False else " (once)"
    return _text(", ".join(parts) + once)


def _unit(unit: str, value: Any, *, first: bool) -> str:
    if unit == "weekdays":
        return "on " + _words(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{unit} {INVALID}"
    if unit == "minute" and first and value < 1:
        return f"every {value * 60:g} s"
    if unit == "year" and value > 2000:
        return f"in {value:g}"
    return f"every {value:g} {unit}" if first else f"{unit} {value:g}"


def trigger_words(d: dict[str, Any]) -> str:
    what = d.get("kind") if d.get("kind") in ("task", "model", "dataset") else "task"
    filters = [f"{k.replace('_', ' ')} {_words(d[k])}" for k in _FILTERS if d.get(k)]
    if d.get("on_publish") is True:
        filters.append("on publish")
    return f"when a {what} changes" + (": " + ", ".join(filters) if filters else "")


def _moment(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 64:
        return INVALID
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return INVALID
    return moment.strftime("%Y-%m-%d %H:%M:%S") + " UTC"


def _task_id(value: Any) -> str:
    if value is None or value == "":
        return ""
    return value if isinstance(value, str) and _TASK_ID.fullmatch(value) else INVALID


def _count(value: Any) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value < MAX_COUNT
    return value if ok else None


def _words(value: Any) -> str:
    """A stored value or list of values (tags, statuses, weekdays) as words: "a/b"."""
    return _text("/".join(_text(v) for v in value[:MAX_TEXT]) if isinstance(value, list) else value)


def _text(value: Any) -> str:
    """A stored value as one printable line, cut to MAX_TEXT characters."""
    shown = printable((value if isinstance(value, str) else json.dumps(value, default=str))[: MAX_TEXT * 2])
    return shown if len(shown) <= MAX_TEXT else shown[: MAX_TEXT - 1] + "…"
