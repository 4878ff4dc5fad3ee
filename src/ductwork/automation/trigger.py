"""ClearML's `TriggerScheduler`: when a task reaches a status (or a metric a threshold), or a
model is published or tagged, launch a task or call a function, once per matching object.

What each trigger already handled is kept on the scheduler's own task: after a restart an
object is not handled twice, and one that matched while the scheduler was down is handled
when it comes back. A task trigger looks at tasks updated since the trigger first started; a
model has no update time, so a model trigger's first poll records the models that already
match (ClearML's "only what changes from now on") and fires for the ones that match later.

`add_dataset_trigger` is not here: ductwork has no Dataset (ClearML's datasets are tasks of
its own Dataset API, which we do not provide), so there is nothing for it to watch.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ductwork.automation.launch import Job, launch_function, launch_task
from ductwork.automation.service import SchedulerService
from ductwork.automation.state import iso, utcnow
from ductwork.client.contract import Backend
from ductwork.core.errors import ValidationError
from ductwork.core.queries import EventQuery, TaskQuery
from ductwork.core.records import TaskRecord, now
from ductwork.core.states import TaskStatus

_SCAN_LIMIT = 500  # tasks looked at per poll and trigger, newest update first


@dataclass
class Trigger:
    """One trigger: what fires (`job`), which objects match, and the id placeholder."""

    job: Job
    kind: str  # "task" | "model"
    project: str | None = None
    match_name: str | None = None
    tags: list[str] = field(default_factory=list)
    required_tags: list[str] = field(default_factory=list)
    on_status: list[str] = field(default_factory=list)
    on_publish: bool = False
    exclude_dev: bool = False
    metric: tuple[str, str, float, bool] | None = None  # title, series, threshold, above
    thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.job.name

    @property
    def placeholder(self) -> str:
        return "${task.id}" if self.kind == "task" else "${model.id}"

    def definition(self) -> dict[str, Any]:
        fields = {k: v for k, v in vars(self).items() if k not in ("job", "thread")}
        return {**self.job.definition(), **fields}

    def matches(self, backend: Backend, since: float, own_id: str) -> list[str]:
        """Ids of the objects that match now (tasks: updated since `since`)."""
        if self.kind == "model":
            return self._models(backend)
        query = TaskQuery(
            project_name=self.project,
            name_pattern=self.match_name,
            status=self.on_status or None,
            tags=(self.tags + self.required_tags) or None,
            system_tags=["-development"] if self.exclude_dev else None,
            archived=None,
            order_by="-updated",
            limit=_SCAN_LIMIT,
        )
        # Neither the scheduler's own task nor what it launched: a trigger must not feed itself.
        found = [
            r
            for r in backend.query_tasks(query)
            if r.updated >= since and r.id != own_id and r.runtime.get("triggered_by") != own_id
        ]
        return [r.id for r in found if self._metric_ok(backend, r)]

    def _models(self, backend: Backend) -> list[str]:
        project = backend.find_project(self.project) if self.project else None
        if self.project and project is None:
            return []
        models = backend.query_models(
            project=project.id if project else None, tags=self.tags + self.required_tags
        )
        pattern = re.compile(self.match_name) if self.match_name else None
        return [
            m.id
            for m in models
            if (not self.on_publish or m.published) and (pattern is None or pattern.search(m.name))
        ]

    def _metric_ok(self, backend: Backend, record: TaskRecord) -> bool:
        """ClearML's metric trigger: the series' max at or above the threshold ("max"), or its
        min at or below it (the default, "min")."""
        if self.metric is None:
            return True
        title, series, threshold, above = self.metric
        events = backend.get_events(EventQuery(task_id=record.id, kind="scalar", title=title, series=series))
        values = [e.value for e in events if e.value is not None]
        if not values:
            return False
        return max(values) >= threshold if above else min(values) <= threshold


def _trigger(
    kind: str, schedule_task_id: Any, schedule_function: Any, schedule_queue: Any, **kw: Any
) -> Trigger:
    """The arguments common to every add_*_trigger, checked (errors name the argument)."""
    task_id = str(getattr(schedule_task_id, "id", schedule_task_id) or "") or None
    name = str(kw.pop("name") or task_id or getattr(schedule_function, "__name__", ""))
    add_tag = kw.pop("add_tag")
    reuse_task = kw.pop("reuse_task")
    job = Job(
        name=name,
        base_task_id=task_id,
        base_function=schedule_function,
        queue=schedule_queue,
        target_project=kw.pop("target_project"),
        single_instance=bool(kw.pop("single_instance")),
        task_parameters=dict(kw.pop("task_parameters") or {}),
        task_overrides=dict(kw.pop("task_overrides") or {}),
        clone_task=not reuse_task,
        add_tag=(add_tag if isinstance(add_tag, str) else name) if add_tag else None,
    )
    job.check()
    if task_id and not schedule_queue:
        raise ValidationError("schedule_queue is required with schedule_task_id (where the clone goes)")
    for what in ("tags", "required_tags"):
        value = kw.get(what) or []
        if isinstance(value, str) or not all(isinstance(t, str) for t in value):
            raise ValidationError(
                f"trigger_{'on_' if what == 'tags' else ''}{what}: a list of strings, got {value!r}"
            )
        kw[what] = list(value)
    if kw.get("match_name"):
        try:
            re.compile(kw["match_name"])
        except re.error as exc:
            raise ValidationError(f"trigger_name: not a regular expression ({exc})") from None
    return Trigger(job=job, kind=kind, **kw)


class TriggerScheduler(SchedulerService):
    """Trigger a task or function when tasks or models change (ClearML's API). Polls every
    `pooling_frequency_minutes` (ClearML's name, kept)."""

    _section = "triggers"
    _kind = "trigger"

    def __init__(
        self,
        pooling_frequency_minutes: float = 3.0,
        sync_frequency_minutes: float = 15,
        force_create_task_name: str | None = None,
        force_create_task_project: str | None = None,
    ) -> None:
        super().__init__(
            sync_frequency_minutes,
            force_create_task_name,
            force_create_task_project,
            pooling_frequency_minutes,
        )
        self._triggers: list[Trigger] = []

    def add_task_trigger(
        self,
        schedule_task_id: Any = None,
        schedule_queue: str | None = None,
        schedule_function: Callable[[str], Any] | None = None,
        trigger_project: str | None = None,
        trigger_name: str | None = None,
        trigger_on_tags: Sequence[str] | None = None,
        trigger_on_status: Sequence[str] | None = None,
        trigger_exclude_dev_tasks: bool | None = None,
        trigger_on_metric: str | None = None,
        trigger_on_variant: str | None = None,
        trigger_on_threshold: float | None = None,
        trigger_on_sign: str | None = None,
        trigger_required_tags: Sequence[str] | None = None,
        name: str | None = None,
        target_project: str | None = None,
        add_tag: bool | str = True,
        single_instance: bool = False,
        reuse_task: bool = False,
        task_parameters: Mapping[str, Any] | None = None,
        task_overrides: Mapping[str, Any] | None = None,
    ) -> None:
        """Fire once per task matching all filters (status, project, name regex, tags, metric).
        A task_parameters value "${task.id}" becomes the matching task's id; a function gets it."""
        statuses = list(trigger_on_status or [])
        valid = {s.value for s in TaskStatus}
        if isinstance(trigger_on_status, str) or any(s not in valid for s in statuses):
            raise ValidationError(
                f"trigger_on_status: a list of statuses {sorted(valid)}, got {trigger_on_status!r}"
            )
        trigger = _trigger(
            "task",
            schedule_task_id,
            schedule_function,
            schedule_queue,
            project=trigger_project,
            match_name=trigger_name,
            tags=trigger_on_tags,
            required_tags=trigger_required_tags,
            on_status=statuses,
            exclude_dev=bool(trigger_exclude_dev_tasks),
            metric=_metric(trigger_on_metric, trigger_on_variant, trigger_on_threshold, trigger_on_sign),
            name=name,
            target_project=target_project,
            add_tag=add_tag,
            single_instance=single_instance,
            reuse_task=reuse_task,
            task_parameters=task_parameters,
            task_overrides=task_overrides,
        )
        self._add(trigger)

    def add_model_trigger(
        self,
        schedule_task_id: Any = None,
        schedule_queue: str | None = None,
        schedule_function: Callable[[str], Any] | None = None,
        trigger_project: str | None = None,
        trigger_name: str | None = None,
        trigger_on_publish: bool | None = None,
        trigger_on_tags: Sequence[str] | None = None,
        trigger_on_archive: bool | None = None,
        trigger_required_tags: Sequence[str] | None = None,
        name: str | None = None,
        target_project: str | None = None,
        add_tag: bool | str = True,
        single_instance: bool = False,
        reuse_task: bool = False,
        task_parameters: Mapping[str, Any] | None = None,
        task_overrides: Mapping[str, Any] | None = None,
    ) -> None:
        """Fire once per model that is published (`trigger_on_publish`) and/or carries all of
        `trigger_on_tags`; "${model.id}" in task_parameters becomes its id."""
        if trigger_on_archive:
            raise ValidationError("trigger_on_archive: models cannot be archived in ductwork")
        trigger = _trigger(
            "model",
            schedule_task_id,
            schedule_function,
            schedule_queue,
            project=trigger_project,
            match_name=trigger_name,
            tags=trigger_on_tags,
            required_tags=trigger_required_tags,
            on_publish=bool(trigger_on_publish),
            name=name,
            target_project=target_project,
            add_tag=add_tag,
            single_instance=single_instance,
            reuse_task=reuse_task,
            task_parameters=task_parameters,
            task_overrides=task_overrides,
        )
        self._add(trigger)

    def get_triggers(self) -> list[Trigger]:
        return list(self._triggers)

    def _add(self, trigger: Trigger) -> None:
        if any(t.name == trigger.name for t in self._triggers):
            raise ValidationError(f"name: a trigger named {trigger.name!r} exists already")
        self._triggers.append(trigger)

    # ------------------------------------------------------------------ the loop's step

    def _step(self) -> float:
        for trigger in self._triggers:
            state = self._saved.entry(trigger.name)
            first_poll = "since" not in state
            since = float(state.setdefault("since", now()))
            handled: dict[str, Any] = state.setdefault("handled", {})
            found = [i for i in trigger.matches(self._backend, since, self._task.id) if i not in handled]
            if first_poll and trigger.kind == "model":
                handled.update(dict.fromkeys(found, "there before the trigger"))
                found = []
            for object_id in found:
                self._fire(trigger, state, object_id)
            state["polled"] = iso(utcnow())
        self._saved.save()
        return 60.0 * float(self._pooling_frequency_minutes or 3.0)

    def _fire(self, trigger: Trigger, state: dict[str, Any], object_id: str) -> None:
        job = trigger.job
        state["handled"][object_id] = iso(utcnow())
        if job.base_function is not None:
            self._saved.save()  # before the call: a function runs at most once per object
            call = launch_function(job, (object_id,), trigger.thread)
            trigger.thread = call or trigger.thread
            launched: str | None = "function" if call is not None else None
        else:
            marks = {"triggered_by": self._task.id, "trigger": trigger.name, "event": object_id}
            values = {k: object_id if v == trigger.placeholder else v for k, v in job.task_parameters.items()}
            launched = launch_task(self._backend, job, marks, parameters=values, last=state.get("last_task"))
            if launched is not None:
                state["last_task"] = launched
        if launched is None:
            # As ClearML's: the event is handled (not fired later); counted, with the reason.
            why = f"single_instance: its last {'call' if job.base_function else 'task'} still runs"
            state["skipped"] = int(state.get("skipped") or 0) + 1
            state["last_skip"] = {"event": object_id, "at": iso(utcnow()), "why": why}
            self._saved.save()
            self._log(f"{trigger.name}: {object_id} skipped, {why}")
            return
        state.update(last_fired=iso(utcnow()), fired=state.get("fired", 0) + 1, last_object=object_id)
        self._saved.save()
        self._log(f"{trigger.name}: fired for {trigger.kind} {object_id} ({launched})")

    # ------------------------------------------------------------------ definitions

    def _definitions(self) -> list[dict[str, Any]]:
        return [t.definition() for t in self._triggers]

    def _load_definitions(self, stored: list[dict[str, Any]]) -> None:
        """Stored filters win (an edited status list, a new threshold); what fires stays the
        code's, so a stored trigger the code no longer has is dropped."""
        by_name = {t.name: t for t in self._triggers}
        for d in stored:
            trigger = by_name.get(str(d.get("name")))
            if trigger is None:
                continue
            for key in (
                "project",
                "match_name",
                "tags",
                "required_tags",
                "on_status",
                "on_publish",
                "exclude_dev",
            ):
                if key in d:
                    setattr(trigger, key, d[key])


def _metric(metric: str | None, variant: str | None, threshold: float | None, sign: str | None) -> Any:
    if metric is None and variant is None and threshold is None:
        return None
    if not (metric and variant and isinstance(threshold, (int, float))):
        raise ValidationError("trigger_on_metric, trigger_on_variant and trigger_on_threshold go together")
    if sign not in (None, "min", "minimum", "max", "maximum"):
        raise ValidationError(f"trigger_on_sign: 'min' or 'max', got {sign!r}")
    return (metric, variant, float(threshold), sign in ("max", "maximum"))
