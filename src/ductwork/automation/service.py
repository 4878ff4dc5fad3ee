"""The long-lived part both schedulers share: their own task (a `service` task, found again
after a restart), the loop that syncs edited definitions and takes steps, its heartbeat, and
`start_remotely` (hand the loop to a services agent).

While the loop runs, this process beats like an agent (the worker registry, with the task
named as its owner, as a local pipeline controller does: `pipelines.heartbeat`), so the CLI
and the Schedules page tell a live scheduler from a task left `in_progress` by a killed one
(`core.liveness`). Under an agent, the agent's slot already beats for the task."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from ductwork import client
from ductwork.automation.state import SavedState, read_definitions, utcnow, write_definitions
from ductwork.core import orphans
from ductwork.core.records import TaskTypes
from ductwork.core.schedulers import SCHEDULER_TAG
from ductwork.core.states import TaskStatus

if TYPE_CHECKING:
    from ductwork.pipelines.heartbeat import Heartbeat

DEFAULT_PROJECT = "DevOps"
DEFAULT_NAME = "Scheduler"


class SchedulerService:
    """Subclasses say what a step does (`_step`: act, then how long to sleep) and how stored
    definitions replace the code's (`_definitions`, `_load_definitions`)."""

    _section = ""  # the configuration object holding the definitions
    _kind = ""  # "schedule" or "trigger": the runtime mark the CLI shows

    def __init__(
        self,
        sync_frequency_minutes: float = 15,
        force_create_task_name: str | None = None,
        force_create_task_project: str | None = None,
        pooling_frequency_minutes: float | None = None,
    ) -> None:
        from ductwork.sdk.task import Task

        for what, value in (
            ("sync_frequency_minutes", sync_frequency_minutes),
            ("pooling_frequency_minutes", pooling_frequency_minutes),
        ):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0
            ):
                raise ValueError(f"{what} must be a positive number of minutes, got {value!r}")
        self._sync_frequency_minutes = float(sync_frequency_minutes)
        self._pooling_frequency_minutes = pooling_frequency_minutes
        current = Task.current_task()
        if force_create_task_name or current is None:
            # continue_last_task: a restarted scheduler takes up its own task again, and with
            # it the state stored there (ClearML would start a fresh task and lose it).
            current = Task.init(
                project_name=force_create_task_project or DEFAULT_PROJECT,
                task_name=force_create_task_name or DEFAULT_NAME,
                task_type=TaskTypes.service,
                continue_last_task=True,
                auto_resource_monitoring=False,
            )
        self._task = current
        self._backend = client.backend()
        self._stop = threading.Event()
        self._wake = threading.Event()  # set by stop() and by a scheduled function that returned
        self._started_at = utcnow()
        self._last_sync = 0.0
        self._state: SavedState | None = None

    # ------------------------------------------------------------------ the loop

    def start(self) -> None:
        """Run the loop in this process until `stop()` (ClearML's never returns)."""
        from ductwork.sdk.task import Task

        self._started_at = utcnow()
        self._mark_own_task()
        if Task.running_locally():
            self._publish()  # the code's definitions, editable on the task from now on
        self._state = SavedState(self._backend, self._task.id)
        beat = self._beat()
        try:
            self._sync()
            while not self._stop.is_set():
                if time.monotonic() - self._last_sync > 60.0 * self._sync_frequency_minutes:
                    self._sync()
                try:
                    wait = self._step()
                except Exception as exc:  # one bad step (store away, a task deleted) must not end it
                    self._log(f"step failed: {type(exc).__name__}: {exc}")
                    wait = 15.0
                self._wake.wait(max(wait, 0.0))
                self._wake.clear()
        finally:
            if beat is not None:
                beat.stop()

    def stop(self) -> None:
        """End the loop of `start()` after its current step (from another thread or a function)."""
        self._stop.set()
        self._wake.set()

    def start_remotely(self, queue: str = "services") -> None:
        """Store the definitions and hand the loop to an agent on `queue`; this process exits.
        On the agent the same script runs again and its `start()` reads what was stored."""
        from ductwork.sdk.task import Task

        if Task.running_locally():  # on the agent the stored definitions (edits included) win
            self._mark_own_task()
            self._publish()
            self._backend.ensure_queue(queue)
        self._task.execute_remotely(queue_name=queue, exit_process=True)
        self.start()

    # ------------------------------------------------------------------ for subclasses

    def _step(self) -> float:
        raise NotImplementedError

    def _definitions(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _load_definitions(self, stored: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    @property
    def _saved(self) -> SavedState:
        if self._state is None:
            self._state = SavedState(self._backend, self._task.id)
        return self._state

    def _log(self, message: str) -> None:
        print(f"[{self._kind}] {message}", flush=True)

    # ------------------------------------------------------------------ definitions on the task

    def _publish(self) -> None:
        write_definitions(self._backend, self._task.id, self._section, self._definitions())

    def _sync(self) -> None:
        """Stored definitions win: an edit of the task's configuration changes the service."""
        self._last_sync = time.monotonic()
        stored = read_definitions(self._backend, self._task.id, self._section)
        if stored is not None:
            self._load_definitions(stored)

    def _beat(self) -> Heartbeat | None:
        """Beat while the loop runs, naming this process as the task's owner; a task settled as
        failed while no process ran it (a killed scheduler, reaped) runs again. Under an agent
        the agent beats for the task (and owns it) already."""
        from ductwork.pipelines.heartbeat import Heartbeat
        from ductwork.sdk.task import Task

        record = self._backend.get_task(self._task.id)
        if record.status != TaskStatus.in_progress.value:
            record = self._backend.set_status(record.id, TaskStatus.in_progress.value, force=True)
        if not Task.running_locally():
            return None
        beat = Heartbeat(self._backend, record.id)
        owner = orphans.owner(beat.start(), started=record.started)
        self._backend.edit_task(record.id, {"runtime": {**record.runtime, orphans.OWNER_KEY: owner}})
        return beat

    def _mark_own_task(self) -> None:
        record = self._backend.get_task(self._task.id)
        system_tags = sorted({*record.system_tags, SCHEDULER_TAG})
        runtime = {**record.runtime, "scheduler": self._kind}
        if system_tags != sorted(record.system_tags) or record.runtime != runtime:
            self._backend.edit_task(record.id, {"system_tags": system_tags, "runtime": runtime})
