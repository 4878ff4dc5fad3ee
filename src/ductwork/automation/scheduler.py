"""ClearML's `TaskScheduler`: launch a task (a pipeline run included) or call a function on a
time schedule, and keep each schedule's last slot on the scheduler's own task so that a
restart neither repeats a slot nor loses one (see `catch_up`)."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ductwork.automation import schedule
from ductwork.automation.launch import ACTIVE, Call, Job, launch_function, launch_task, stop_launched
from ductwork.automation.service import SchedulerService
from ductwork.automation.state import from_iso, iso, utcnow
from ductwork.core.errors import Conflict, ValidationError
from ductwork.core.queries import TaskQuery
from ductwork.core.records import TaskRecord

_TIME_FIELDS = ("minute", "hour", "day", "weekdays", "month", "year")
MAX_LIMIT_HOURS = 24 * 365 * 100
STOP_REASON = "limit_execution_time"  # the status reason of a task a schedule stopped


@dataclass
class ScheduleJob:
    """One entry of the schedule: what fires (`job`) and when (`timing`)."""

    job: Job
    timing: schedule.Timing
    when: dict[str, Any]  # the time arguments as given (stored, shown)
    starting_time: datetime
    recurring: bool = True
    execute_immediately: bool = False
    limit_execution_time: float | None = None
    catch_up: bool | int = True
    thread: threading.Thread | None = field(default=None, repr=False)
    state: dict[str, Any] = field(default_factory=dict, repr=False)  # its saved state, once started

    @property
    def name(self) -> str:
        return self.job.name

    def get_last_executed_task_id(self) -> str | None:
        """ClearML's name: the task the last firing launched."""
        last = self.state.get("last_task")
        return str(last) if last else None

    def definition(self) -> dict[str, Any]:
        return {
            **self.job.definition(),
            **self.when,
            "recurring": self.recurring,
            "execute_immediately": self.execute_immediately,
            "limit_execution_time": self.limit_execution_time,
            "catch_up": self.catch_up,
            "starting_time": iso(self.starting_time),
        }

    def next_run(self, state: Mapping[str, Any] | None = None) -> datetime | None:
        """The next slot to fire after what `state` (by default its own) last fired."""
        state = self.state if state is None else state
        if not self.recurring and state.get("fired"):
            return None
        if self.execute_immediately and not state.get("immediate_done"):
            return self._anchor(state)
        return self.timing.next_after(self._anchor(state), self._after(state))

    def due(self, state: Mapping[str, Any], now: datetime, started: datetime) -> tuple[list[datetime], int]:
        """Slots to fire now, and how many missed ones to skip: a slot that fell before this
        process started is a missed one, kept or dropped by `catch_up` (True: each runs once;
        an int n: the newest n; False/0: none)."""
        if not self.recurring and state.get("fired"):
            return [], 0
        slots = self.timing.slots_between(self._anchor(state), self._after(state), now)
        if not self.recurring:
            slots = slots[:1]
        missed = [s for s in slots if s < started]
        keep = len(missed) if self.catch_up is True else int(self.catch_up)
        kept = missed[len(missed) - keep :] if keep else []
        return kept + slots[len(missed) :], len(missed) - len(kept)

    def _anchor(self, state: Mapping[str, Any]) -> datetime:
        # The first anchor stays: a restart (or a second add_task) must not move the grid.
        return from_iso(state.get("anchor")) or self.starting_time

    def _after(self, state: Mapping[str, Any]) -> datetime:
        return from_iso(state.get("last_slot")) or self._anchor(state) - timedelta(microseconds=1)


def checked_limit(hours: object) -> float | None:
    """`limit_execution_time`: None, or a positive, finite number of hours (fractions allowed:
    0.5 is 30 minutes, 1/3600 one second) no longer than MAX_LIMIT_HOURS."""
    if hours is None:
        return None
    if isinstance(hours, bool) or not isinstance(hours, (int, float)) or not math.isfinite(hours):
        raise ValidationError(
            f"limit_execution_time must be a number of hours (0.5 is 30 minutes), got {hours!r}"
        )
    if hours <= 0:
        raise ValidationError(f"limit_execution_time must be more than 0 hours, got {hours!r}")
    if hours > MAX_LIMIT_HOURS:
        raise ValidationError(
            f"limit_execution_time={hours!r} hours is more than {MAX_LIMIT_HOURS} (a century); "
            "leave it None for no limit"
        )
    return float(hours)


def schedule_job(
    schedule_task_id: Any = None,
    schedule_function: Callable[..., Any] | None = None,
    queue: str | None = None,
    name: str | None = None,
    target_project: str | None = None,
    *,
    when: Mapping[str, Any],
    limit_execution_time: float | None = None,
    single_instance: bool = False,
    recurring: bool = True,
    execute_immediately: bool = False,
    reuse_task: bool = False,
    task_parameters: Mapping[str, Any] | None = None,
    task_overrides: Mapping[str, Any] | None = None,
    catch_up: bool | int = True,
    starting_time: datetime | None = None,
) -> ScheduleJob:
    """`add_task`'s arguments checked into a ScheduleJob (also used for stored definitions)."""
    task_id = str(getattr(schedule_task_id, "id", schedule_task_id) or "") or None
    job = Job(
        name=str(name or task_id or getattr(schedule_function, "__name__", "")),
        base_task_id=task_id,
        base_function=schedule_function,
        queue=queue,
        target_project=target_project,
        single_instance=bool(single_instance),
        task_parameters=dict(task_parameters or {}),
        task_overrides=dict(task_overrides or {}),
        clone_task=not reuse_task,
    )
    job.check()
    if task_id and not queue:
        raise ValidationError("queue is required with schedule_task_id (where the clone goes)")
    limit_execution_time = checked_limit(limit_execution_time)
    if isinstance(catch_up, bool) is False and (not isinstance(catch_up, int) or catch_up < 0):
        raise ValidationError(f"catch_up must be True, False or a number of slots >= 0, got {catch_up!r}")
    return ScheduleJob(
        job=job,
        timing=schedule.timing(**when),
        when={k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in when.items()},
        starting_time=starting_time or utcnow(),
        recurring=bool(recurring),
        execute_immediately=bool(execute_immediately),
        limit_execution_time=limit_execution_time,
        catch_up=catch_up,
    )


class TaskScheduler(SchedulerService):
    """Task scheduling, as ClearML's: times are UTC; minute/hour/day/weekdays/month/year as in
    `add_task`. Added here: `catch_up` per entry and `stop()`."""

    _section = "schedule"
    _kind = "schedule"

    def __init__(
        self,
        sync_frequency_minutes: float = 15,
        force_create_task_name: str | None = None,
        force_create_task_project: str | None = None,
    ) -> None:
        super().__init__(sync_frequency_minutes, force_create_task_name, force_create_task_project)
        self._schedule_jobs: list[ScheduleJob] = []

    def add_task(
        self,
        schedule_task_id: Any = None,
        schedule_function: Callable[..., Any] | None = None,
        queue: str | None = None,
        name: str | None = None,
        target_project: str | None = None,
        minute: float | None = None,
        hour: float | None = None,
        day: float | None = None,
        weekdays: Sequence[str] | None = None,
        month: float | None = None,
        year: float | None = None,
        limit_execution_time: float | None = None,
        single_instance: bool = False,
        recurring: bool = True,
        execute_immediately: bool = False,
        reuse_task: bool = False,
        task_parameters: Mapping[str, Any] | None = None,
        task_overrides: Mapping[str, Any] | None = None,
        catch_up: bool | int = True,
    ) -> bool:
        """Add a schedule entry (its name should be unique; by default the task id, or the
        function's name). `catch_up`: what happens to slots that fell while the scheduler was
        not running: True runs each once when it comes back, an int n only the newest n,
        False none. Raises ValueError naming the argument on bad input."""
        when = {
            "minute": minute,
            "hour": hour,
            "day": day,
            "weekdays": weekdays,
            "month": month,
            "year": year,
        }
        entry = schedule_job(
            schedule_task_id,
            schedule_function,
            queue,
            name,
            target_project,
            when={k: v for k, v in when.items() if v is not None},
            limit_execution_time=limit_execution_time,
            single_instance=single_instance,
            recurring=recurring,
            execute_immediately=execute_immediately,
            reuse_task=reuse_task,
            task_parameters=task_parameters,
            task_overrides=task_overrides,
            catch_up=catch_up,
        )
        if entry.limit_execution_time and schedule_function is not None:
            # As in ClearML, a function's call is not limited: a thread cannot be stopped.
            self._log(
                f"{entry.name}: limit_execution_time applies to tasks; a function's call is not limited"
            )
        if any(j.name == entry.name for j in self._schedule_jobs):
            raise ValidationError(f"name: a schedule entry named {entry.name!r} exists already")
        self._schedule_jobs.append(entry)
        return True

    def get_scheduled_tasks(self) -> list[ScheduleJob]:
        return list(self._schedule_jobs)

    def remove_task(self, task_id: Any) -> bool:
        """Remove the entries of a task (a Task or its id) or of a function; True if any was."""
        if callable(task_id) and not hasattr(task_id, "id"):
            kept = [j for j in self._schedule_jobs if j.job.base_function is not task_id]
        else:
            wanted = str(getattr(task_id, "id", task_id))
            kept = [j for j in self._schedule_jobs if j.job.base_task_id != wanted]
        removed = len(kept) != len(self._schedule_jobs)
        self._schedule_jobs = kept
        return removed

    # ------------------------------------------------------------------ the loop's step

    def _step(self) -> float:
        now = utcnow()
        self._enforce_time_limits(now)
        for entry in self._schedule_jobs:
            state = entry.state = self._saved.entry(entry.name)
            state.setdefault("anchor", iso(entry.starting_time))
            self._note_call(entry, state)
            self._fire_due(entry, state, now)
            state["next"] = iso(entry.next_run(state))
        self._saved.save()
        upcoming = [from_iso(self._saved.entry(j.name).get("next")) for j in self._schedule_jobs]
        times = [t for t in upcoming + self._deadlines() if t is not None]
        longest = 60.0 * self._sync_frequency_minutes
        return min([(min(times) - utcnow()).total_seconds(), longest] if times else [longest])

    def _fire_due(self, entry: ScheduleJob, state: dict[str, Any], now: datetime) -> None:
        if entry.execute_immediately and not state.get("immediate_done"):
            self._fire(entry, state, entry._anchor(state), now)
            state["immediate_done"] = True
            self._saved.save()
        slots, skipped = entry.due(state, now, self._started_at)
        if skipped:
            state["skipped"] = state.get("skipped", 0) + skipped
            why = f"{skipped} slot(s) fell while the scheduler was stopped (catch_up={entry.catch_up})"
            state["last_skip"] = {"at": iso(now), "why": why}
            self._log(f"{entry.name}: {why}: skipped")
        for slot in slots:
            self._fire(entry, state, slot, now)
            state["last_slot"] = iso(slot)
            self._saved.save()
        if skipped and not slots:
            missed = entry.timing.slots_between(entry._anchor(state), entry._after(state), now)
            state["last_slot"] = iso(missed[-1]) if missed else state.get("last_slot")

    def _fire(self, entry: ScheduleJob, state: dict[str, Any], slot: datetime, now: datetime) -> None:
        job = entry.job
        if job.base_function is not None:
            self._call(entry, state, slot, now)
            return
        marks = {"scheduled_by": self._task.id, "schedule": entry.name, "slot": iso(slot) or ""}
        last = state.get("last_task")
        launched = launch_task(self._backend, job, marks, parameters=job.task_parameters, last=last)
        if launched is None:
            self._skip(entry, state, slot, now, f"single_instance: task {last} is still queued or running")
            return
        state.update(last_fired=iso(now), last_task=launched, fired=state.get("fired", 0) + 1)
        if entry.limit_execution_time:
            deadline = now + timedelta(hours=entry.limit_execution_time)
            deadlines = state.setdefault("deadlines", {})
            deadlines[launched] = {"at": iso(deadline), "hours": entry.limit_execution_time}
        self._log(f"{entry.name}: launched task {launched} on {job.queue} for slot {iso(slot)}")

    def _call(self, entry: ScheduleJob, state: dict[str, Any], slot: datetime, now: datetime) -> None:
        job = entry.job
        assert job.base_function is not None
        if job.single_instance and entry.thread is not None and entry.thread.is_alive():
            self._skip(entry, state, slot, now, "single_instance: its last call still runs")
            return
        # Saved before the call: a function is called at most once per slot.
        state.update(last_slot=iso(slot), last_fired=iso(now), fired=state.get("fired", 0) + 1)
        state["last_call"] = "running"
        self._saved.save()
        entry.thread = launch_function(job, (), None, ended=self._wake.set)
        self._log(f"{entry.name}: called {job.base_function.__name__} for slot {iso(slot)}")

    def _skip(
        self, entry: ScheduleJob, state: dict[str, Any], slot: datetime, now: datetime, why: str
    ) -> None:
        """A slot passed over (as ClearML's, it is not tried again later): counted, and the
        reason kept for the CLI and the Schedules page."""
        state["skipped"] = state.get("skipped", 0) + 1
        state["last_skip"] = {"slot": iso(slot), "at": iso(now), "why": why}
        self._log(f"{entry.name}: slot {iso(slot)} skipped, {why}")

    def _note_call(self, entry: ScheduleJob, state: dict[str, Any]) -> None:
        """How the last call of a function entry went, as far as this process knows."""
        if entry.job.base_function is None:
            return
        call = entry.thread
        if isinstance(call, Call):
            state["last_call"] = "running" if call.is_alive() else call.outcome
        elif state.get("last_call") == "running":
            state["last_call"] = "ended with the scheduler's process (a restart)"

    # ------------------------------------------------------------------ limit_execution_time

    def _deadlines(self) -> list[datetime | None]:
        """When each launched task under a limit is stopped at the latest (kept in each entry's
        state, so a restarted scheduler still stops a task an earlier process launched)."""
        found: list[datetime | None] = []
        for state in self._saved.entries.values():
            deadlines = state.get("deadlines") if isinstance(state, dict) else None
            if isinstance(deadlines, dict):
                found += [_deadline(d) for d in deadlines.values()]
        return found

    def _enforce_time_limits(self, now: datetime) -> None:
        """ClearML's timeout: a launched task still queued or running `limit_execution_time`
        hours after its launch is stopped, here with the reason on the task. Entries removed
        from the definitions since are enforced too: their tasks were launched under a limit."""
        for name, state in list(self._saved.entries.items()):
            deadlines = state.get("deadlines") if isinstance(state, dict) else None
            if not isinstance(deadlines, dict) or not deadlines:
                continue
            asked = TaskQuery(ids=[str(k) for k in deadlines], archived=None)  # deleted ones: absent
            tasks = {t.id: t for t in self._backend.query_tasks(asked)}
            for task_id, limit in list(deadlines.items()):
                task = tasks.get(task_id)
                deadline = _deadline(limit)
                if task is None or task.status not in ACTIVE or deadline is None:
                    del deadlines[task_id]  # ended within its limit (or deleted), or unreadable
                    continue
                if task.runtime.get("scheduled_by") != self._task.id:
                    # The state is editable: stop only what this scheduler launched, never a
                    # task someone listed here to have it stopped with this scheduler's rights.
                    self._log(f"{name}: task {task_id} was not launched by this scheduler; not stopped")
                    del deadlines[task_id]
                    continue
                if deadline > now:
                    continue
                if self._stop_overrun(name, state, task, limit):
                    del deadlines[task_id]

    def _stop_overrun(self, name: str, state: dict[str, Any], task: TaskRecord, limit: Any) -> bool:
        task_id, status = task.id, task.status
        hours = limit.get("hours") if isinstance(limit, dict) else None
        message = (
            f"limit_execution_time: still {status} {_duration(hours)} after the launch of schedule "
            f"{name!r}; stopped by scheduler {self._task.id}"
        )
        try:
            stop_launched(self._backend, task, message, STOP_REASON)
        except Conflict:
            return False  # its status changed meanwhile: looked at again on the next step
        now = iso(utcnow())
        state["timed_out"] = int(state.get("timed_out") or 0) + 1
        state["last_timeout"] = {"task": task_id, "at": now, "was": status}
        self._log(f"{name}: task {task_id} stopped, limit_execution_time reached ({status})")
        return True

    # ------------------------------------------------------------------ definitions

    def _definitions(self) -> list[dict[str, Any]]:
        return [j.definition() for j in self._schedule_jobs]

    def _load_definitions(self, stored: list[dict[str, Any]]) -> None:
        """Entries as stored (edits included); a function entry keeps the code's function."""
        functions = {j.name: j.job.base_function for j in self._schedule_jobs}
        loaded: list[ScheduleJob] = []
        for d in stored:
            name = str(d.get("name") or "")
            try:
                loaded.append(_from_definition(d, functions.get(name)))
            except (ValueError, TypeError) as exc:
                self._log(f"stored schedule entry {name!r} ignored: {exc}")
        threads = {j.name: j.thread for j in self._schedule_jobs}
        for entry in loaded:
            entry.thread = threads.get(entry.name)
        self._schedule_jobs = loaded


def _duration(hours: object) -> str:
    """A limit in the unit a person reads best: "2 s", "90 min", "2.5 h"."""
    if isinstance(hours, bool) or not isinstance(hours, (int, float)):
        return "its limit"
    seconds = hours * 3600
    if seconds < 120:
        return f"{seconds:.3g} s"
    return f"{seconds / 60:.3g} min" if seconds < 7200 else f"{hours:.3g} h"


def _deadline(limit: Any) -> datetime | None:
    """The stored deadline of one task (None when unreadable: only an edit makes one)."""
    try:
        return from_iso(limit.get("at")) if isinstance(limit, dict) else None
    except ValueError:
        return None


def _from_definition(d: Mapping[str, Any], function: Callable[..., Any] | None) -> ScheduleJob:
    if d.get("base_function") and function is None:
        raise ValidationError(f"function {d.get('base_function')} is not in this script")
    return schedule_job(
        d.get("base_task_id"),
        function if d.get("base_function") else None,
        d.get("queue"),
        d.get("name"),
        d.get("target_project"),
        when={k: d[k] for k in _TIME_FIELDS if d.get(k) is not None},
        limit_execution_time=d.get("limit_execution_time"),
        single_instance=bool(d.get("single_instance")),
        recurring=bool(d.get("recurring", True)),
        execute_immediately=bool(d.get("execute_immediately")),
        reuse_task=not d.get("clone_task", True),
        task_parameters=d.get("task_parameters"),
        task_overrides=d.get("task_overrides"),
        catch_up=d.get("catch_up", True),
        starting_time=from_iso(d.get("starting_time")),
    )
