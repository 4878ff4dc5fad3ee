"""TriggerScheduler on a real clock: a task-status trigger fires once per matching task, also
across a restart; a model-publication trigger clones a task with the model's id."""

from __future__ import annotations

import time
from pathlib import Path

from tests.automation.conftest import run_for, wait_for

POLL = 0.3 / 60  # pooling_frequency_minutes: a poll every 0.3 s


def _task(project: str, name: str, status: str, tags: list[str] | None = None) -> str:
    from ductwork import client
    from ductwork.core.records import TaskRecord

    backend = client.backend()
    record = TaskRecord(name=name, project=backend.ensure_project(project).id, status=status, tags=tags or [])
    return backend.create_task(record).id


def test_a_status_trigger_fires_once_per_task_and_not_again_after_a_restart(home: Path) -> None:
    import threading

    from ductwork.automation import TriggerScheduler

    seen: list[str] = []
    old = _task("watched", "before", "completed")  # done before the trigger: not an event

    def make() -> TriggerScheduler:
        triggers = TriggerScheduler(POLL, force_create_task_name="on-done", force_create_task_project="sched")
        triggers.add_task_trigger(
            schedule_function=seen.append,
            name="done",
            trigger_project="watched",
            trigger_on_status=["completed"],
            trigger_on_tags=["nightly"],
        )
        return triggers

    first = make()
    thread = threading.Thread(target=first.start, daemon=True)
    thread.start()
    time.sleep(0.5)
    a = _task("watched", "a", "completed", ["nightly"])
    _task("watched", "b", "failed", ["nightly"])  # other status
    _task("watched", "c", "completed")  # no tag
    _task("elsewhere", "d", "completed", ["nightly"])  # other project
    wait_for(lambda: seen == [a], 10)
    time.sleep(1.0)  # several more polls: still once
    first.stop()
    thread.join(10)
    e = _task("watched", "e", "completed", ["nightly"])  # while the scheduler is down

    run_for(make(), 1.5)
    assert seen == [a, e] and old not in seen


def test_a_model_publication_clones_a_task_with_the_model_id(home: Path) -> None:
    import threading

    from ductwork import client
    from ductwork.automation import TriggerScheduler
    from ductwork.core.queries import TaskQuery
    from ductwork.core.records import ModelRecord, Param

    backend = client.backend()
    base = _task("deploy", "deploy model", "created")
    backend.set_parameters(base, {"General/model": Param("", "str")})
    project = backend.ensure_project("models").id
    backend.put_model(ModelRecord(name="old", project=project, published=True))  # there before: no event
    fresh = backend.put_model(ModelRecord(name="fresh", project=project))

    triggers = TriggerScheduler(POLL, force_create_task_name="on-model", force_create_task_project="sched")
    triggers.add_model_trigger(
        schedule_task_id=base,
        schedule_queue="deploy",
        name="published",
        trigger_project="models",
        trigger_on_publish=True,
        task_parameters={"General/model": "${model.id}"},
    )
    thread = threading.Thread(target=triggers.start, daemon=True)
    thread.start()
    time.sleep(1.0)
    marked = TaskQuery(runtime={"triggered_by": triggers._task.id}, archived=None)
    assert backend.query_tasks(marked) == []  # not published yet
    fresh.published = True
    backend.put_model(fresh)
    (clone,) = wait_for(lambda: backend.query_tasks(marked), 10)
    time.sleep(1.0)
    triggers.stop()
    thread.join(10)
    assert len(backend.query_tasks(marked)) == 1
    clone = backend.get_task(clone.id)  # found maybe between its clone and its enqueue: read again
    assert clone.id != base and clone.status == "queued" and clone.queue == "deploy"
    assert clone.runtime["event"] == fresh.id and "published" in clone.tags
    assert backend.get_parameters(clone.id)["General/model"].value == fresh.id
    assert backend.get_parameters(base)["General/model"].value == ""


def test_a_metric_threshold_trigger_and_bad_trigger_arguments(home: Path) -> None:
    import threading

    import pytest

    from ductwork import client
    from ductwork.automation import TriggerScheduler
    from ductwork.core.records import MetricEvent

    backend = client.backend()
    seen: list[str] = []
    triggers = TriggerScheduler(POLL, force_create_task_name="on-metric", force_create_task_project="sched")
    triggers.add_task_trigger(
        schedule_function=seen.append,
        name="good enough",
        trigger_project="train",
        trigger_on_metric="loss",
        trigger_on_variant="val",
        trigger_on_threshold=0.1,
    )
    thread = threading.Thread(target=triggers.start, daemon=True)
    thread.start()
    time.sleep(0.5)
    good, bad = _task("train", "good", "completed"), _task("train", "bad", "completed")
    for task_id, values in ((good, [0.5, 0.05]), (bad, [0.5, 0.2])):
        events = [MetricEvent(task_id, "scalar", "loss", "val", i, v) for i, v in enumerate(values)]
        backend.add_events(events)
        backend.edit_task(task_id, {"comment": "reported"})  # a change after the events
    wait_for(lambda: seen == [good], 10)
    triggers.stop()
    thread.join(10)

    with pytest.raises(ValueError, match="trigger_on_status"):
        triggers.add_task_trigger(schedule_function=print, trigger_on_status=["finished"])
    with pytest.raises(ValueError, match="go together"):
        triggers.add_task_trigger(schedule_function=print, trigger_on_metric="loss")
    with pytest.raises(ValueError, match="schedule_queue is required"):
        triggers.add_model_trigger(schedule_task_id="abc", trigger_on_publish=True)
    with pytest.raises(ValueError, match="trigger_name: not a regular expression"):
        triggers.add_task_trigger(schedule_function=print, trigger_name="(")
