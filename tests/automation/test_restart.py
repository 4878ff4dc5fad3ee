"""A scheduler killed with SIGKILL and started again: no slot runs twice, and the slot that
fell while it was down runs once when it comes back (catch_up on, the default)."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta
from pathlib import Path

from tests.automation.conftest import wait_for

SCRIPT = """
import sys
from ductwork.automation import TaskScheduler

scheduler = TaskScheduler(force_create_task_name="restarts", force_create_task_project="sched")
scheduler.add_task(schedule_task_id=sys.argv[1], queue="default", name="tick", minute=2 / 60)
scheduler.start()
"""


def test_a_restart_neither_repeats_nor_skips_a_slot(ductwork_home: Path, tmp_path: Path) -> None:
    from ductwork import client
    from ductwork.automation.state import utcnow
    from ductwork.core.queries import TaskQuery
    from ductwork.core.records import TaskRecord

    backend = client.backend()
    base = backend.create_task(TaskRecord(name="job", project=backend.ensure_project("sched").id)).id
    script = tmp_path / "scheduler.py"
    script.write_text(textwrap.dedent(SCRIPT))
    env = {**os.environ, "DUCTWORK_HOME": str(ductwork_home)}

    def launched() -> list[TaskRecord]:
        return backend.query_tasks(TaskQuery(runtime={"schedule": "tick"}, archived=None))

    first = subprocess.Popen([sys.executable, str(script), base], env=env)
    try:
        wait_for(lambda: len(launched()) >= 2, 30)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    killed = utcnow()
    time.sleep(2.5)  # at least one slot (every 2 s) falls while nothing runs
    restarted = utcnow()
    second = subprocess.Popen([sys.executable, str(script), base], env=env)
    try:
        wait_for(lambda: len(launched()) >= 5, 30)
    finally:
        second.send_signal(signal.SIGKILL)
        second.wait(10)

    slots = sorted(datetime.fromisoformat(t.runtime["slot"]) for t in launched())
    assert len(slots) == len(set(slots)), "a slot ran twice"
    gaps = {later - earlier for earlier, later in itertools.pairwise(slots)}
    assert gaps == {timedelta(seconds=2)}, f"a slot was skipped or moved: {slots}"
    assert any(killed < s < restarted for s in slots), "no slot fell during the restart"
    # the newest may have been cloned but not yet enqueued when the second kill came
    settled = [t for t in launched() if datetime.fromisoformat(t.runtime["slot"]) < slots[-1]]
    assert all(t.status == "queued" and t.id != base for t in settled)


def test_a_clone_made_just_before_a_crash_is_enqueued_not_made_again(ductwork_home: Path) -> None:
    from ductwork import client
    from ductwork.automation.launch import Job, launch_task
    from ductwork.core.queries import TaskQuery
    from ductwork.core.records import TaskRecord

    backend = client.backend()
    base = backend.create_task(TaskRecord(name="job")).id
    marks = {"scheduled_by": "s1", "schedule": "tick", "slot": "2026-01-01T00:00:00"}
    orphan = backend.create_task(TaskRecord(name="job", runtime=dict(marks)))  # cloned, then killed
    job = Job(name="tick", base_task_id=base, queue="default")
    assert launch_task(backend, job, marks, parameters={}, last=None) == orphan.id
    assert launch_task(backend, job, marks, parameters={}, last=None) == orphan.id
    assert backend.get_task(orphan.id).status == "queued"
    assert len(backend.query_tasks(TaskQuery(runtime={"schedule": "tick"}, archived=None))) == 1
