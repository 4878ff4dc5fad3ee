"""The agent: claim a task, reproduce its code, run it, supervise it, record how it ended.

    agent = Agent(backend, AgentOptions(queues=["default"]))
    agent.run()          # until stop() or SIGTERM

Each slot (one by default, N in services mode) is a worker of its own (`<agent>/<n>`), so
the workers table says which task each slot runs and a dead agent's tasks can be found.
One thread sends every slot's heartbeat and, on the same tick, settles the tasks of dead
peers (`ductwork.core.orphans`).
"""

from __future__ import annotations

import functools
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ductwork.agent import environment, scratch, workspace
from ductwork.agent.container import PYTHON as IMAGE_PYTHON
from ductwork.agent.container import ContainerLauncher, ContainerOptions
from ductwork.agent.process import ConsoleStream, Launcher, TaskProcess, transport_env
from ductwork.agent.ray import RayLauncher
from ductwork.agent.wakeup import Claimer, RunEnd, claimer_for
from ductwork.core import orphans, settings
from ductwork.core.errors import Conflict, DuctworkError, NotFound, StatusError, StorageError
from ductwork.core.records import ConsoleLine, TaskRecord, Worker
from ductwork.process import Ending, supervise

# How often a running task's status is read, to notice an abort from the UI, CLI or controller.
ABORT_CHECK_S = 0.25
# How long an agent keeps trying to record a final status while the server is unreachable.
FINAL_STATUS_PATIENCE_S = 600.0
# How long a stopping agent waits to take its workers off the list (see Agent._unregister).
UNREGISTER_PATIENCE_S = 5.0
# Every this many heartbeats an agent also looks for running tasks with no registered worker.
TASK_SCAN_EVERY = 5
# Statuses that mean "stop running this": aborted, reset, re-enqueued, deleted. A task that
# set its own final status (completed, failed) is left to exit by itself.
_TAKEN_BACK = frozenset({"stopped", "created", "queued", "deleted", "taken"})


@dataclass
class AgentOptions:
    queues: list[str]
    same_env: bool = False
    slots: int = 1  # services mode: how many tasks run at once
    name: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    heartbeat_s: float = 2.0
    venvs: Path | None = None  # default $DUCTWORK_HOME/venvs
    max_tasks: int | None = None  # stop after this many (tests, one-shot runs)
    warm: bool = True  # fork tasks from a warm interpreter per environment (not --fresh-processes)
    ray: str | None = None  # --ray ADDRESS: each task runs as a Ray task there (agent/ray)
    resources: dict[str, dict[str, float]] = field(default_factory=dict)  # --resources QUEUE=JSON
    docker: str | None = None  # --docker [IMAGE]: each task in a container (agent/container.py)
    container: ContainerOptions = field(default_factory=ContainerOptions)  # engine, allowed args
    log: Callable[[str], None] = field(default=lambda text: print(text, flush=True))


@dataclass
class Slot:
    id: str
    task_id: str | None = None
    end: RunEnd | None = None  # its last run's end, said with its next claim


class Agent:
    def __init__(
        self, backend: Any, options: AgentOptions, *, child_env: dict[str, str] | None = None
    ) -> None:
        if not options.queues:
            raise DuctworkError("an agent needs at least one queue to listen on (--queue NAME)")
        if options.slots < 1:
            raise DuctworkError(f"an agent needs at least one slot, got {options.slots}")
        self.backend = backend
        self.options = options
        self.slots = [
            Slot(options.name if options.slots == 1 else f"{options.name}/{n}") for n in range(options.slots)
        ]
        self._stop = threading.Event()
        self._claimer: Claimer = claimer_for(backend, settings.db_url())
        self._child_env = child_env if child_env is not None else transport_env(backend)
        self._done = 0
        self._done_lock = threading.Lock()
        self._said_idle: set[str] = set()  # tasks whose end_claim also marked their slot idle
        self._local = threading.local()  # `slot`: the one this thread serves (_serve)
        self._containers = None if options.docker is None else _containers(options, self._child_env)
        # Tasks fork from a warm interpreter of their environment (agent.process.Launcher).
        self._launcher: Launcher | RayLauncher = (
            RayLauncher(backend, options.ray, options.resources)
            if options.ray
            else Launcher(warm=options.warm)
        )

    # -- life cycle --------------------------------------------------------------------------

    def run(self) -> None:
        """Serve the queues until `stop()`; each slot in its own thread."""
        for queue in self.options.queues:
            self.backend.ensure_queue(queue)
        for slot in self.slots:
            self._register(slot)
        left = scratch.sweep()
        if left:
            self.options.log(f"removed {left} task folder(s) left by agents that were killed")
        runs_in = "same environment" if self.options.same_env else "uv environments"
        self.options.log(
            f"ductwork agent {self.options.name} listening on {', '.join(self.options.queues)}"
            f" ({len(self.slots)} slot{'s' if len(self.slots) > 1 else ''},"
            f" {'containers' if self._containers else runs_in})"
        )
        beat = threading.Thread(target=self._heartbeats, name="agent-heartbeat", daemon=True)
        beat.start()
        workers = [
            threading.Thread(target=self._serve, args=(slot,), name=f"agent-{slot.id}", daemon=True)
            for slot in self.slots
        ]
        for thread in workers:
            thread.start()
        try:
            while not self._stop.is_set() and any(t.is_alive() for t in workers):
                workers[0].join(0.5)
            # Stopping: running tasks finish; idle slots (waiting in a claim) are not waited for.
            for thread, slot in zip(workers, self.slots, strict=True):
                while thread.is_alive() and slot.task_id is not None:
                    thread.join(0.5)
        finally:
            self._stop.set()
            beat.join(timeout=5)
            self._unregister()
            self._launcher.close()
            if self._containers is not None:
                self._containers.close()

    def stop(self) -> None:
        """Stop claiming; running tasks finish first."""
        self._stop.set()

    def _unregister(self) -> None:
        """Take the slots off the workers list, waiting at most UNREGISTER_PATIENCE_S: with the
        server away, each call would retry for the whole retry window (minutes, a pod's whole
        shutdown grace), and the server retires workers whose heartbeats stopped anyway."""

        def unregister() -> None:
            for slot in self.slots:
                try:
                    self.backend.unregister_worker(slot.id)
                except DuctworkError:
                    pass

        thread = threading.Thread(target=unregister, name="agent-unregister", daemon=True)
        thread.start()
        thread.join(UNREGISTER_PATIENCE_S)
        if thread.is_alive():
            self.options.log(
                "ductwork agent: could not unregister (the server does not answer);"
                " its heartbeat timeout retires this agent's workers"
            )

    # -- one slot ----------------------------------------------------------------------------

    def _serve(self, slot: Slot) -> None:
        self._local.slot = slot  # its runs' ends go with its next claims (_finish)
        try:
            self._claim_and_run(slot)
        finally:
            self._say_end(slot)  # stopping: the last run's end goes on its own

    def _claim_and_run(self, slot: Slot) -> None:
        while not self._stop.is_set():
            try:
                task = self._claimer.claim(self.options.queues, slot.id, self._stop, slot.end)
                slot.end = None  # recorded before the claim
            except DuctworkError as exc:
                self.options.log(f"ductwork agent: claim failed ({exc}); retrying")
                self._say_end(slot)
                self._stop.wait(1.0)
                self._give_back_lost_claims(slot)
                continue
            if task is None:
                continue
            if self._stop.is_set():
                orphans.give_back(self.backend, task, f"agent {slot.id} is stopping")
                return
            slot.task_id = task.id
            try:
                self.execute(task, slot.id)
            except Exception as exc:  # one broken task must not take the agent down
                self.options.log(f"ductwork agent: task {task.id} failed in the agent: {exc!r}")
                try:
                    self._fail(task, f"agent error: {exc}")
                except Exception as again:
                    self.options.log(f"ductwork agent: could not mark task {task.id} failed: {again!r}")
            finally:
                slot.task_id = None
                with self._done_lock:
                    said = task.id in self._said_idle or slot.end is not None
                    self._said_idle.discard(task.id)
                if not said:  # end_claim already marked the slot idle
                    self._idle(slot)
                self._count_done()

    def _give_back_lost_claims(self, slot: Slot) -> None:
        """A claim whose answer was lost (the server died after committing it) left a task
        `in_progress` under this idle slot, which heartbeats and so is never reaped: put it
        back on its queue."""
        from ductwork.core.queries import TaskQuery

        try:
            running = self.backend.query_tasks(TaskQuery(status=["in_progress"], archived=None))
            for task in running:
                if task.worker == slot.id and slot.task_id != task.id:
                    orphans.give_back(self.backend, task, f"its claim by {slot.id} was lost in transit")
        except DuctworkError:
            pass  # still unreachable: the next failed claim looks again

    def _idle(self, slot: Slot) -> None:
        """Say at once that the slot is free (the workers page shows it; no wait for a beat)."""
        try:
            self.backend.heartbeat(slot.id, None)
        except DuctworkError:
            pass  # the next beat re-registers it

    def _count_done(self) -> None:
        with self._done_lock:
            self._done += 1
            if self.options.max_tasks is not None and self._done >= self.options.max_tasks:
                self._stop.set()

    def execute(self, task: TaskRecord, worker_id: str) -> str:
        """Run one claimed (in_progress) task to its end; answers its final status."""
        console = ConsoleStream(task.id, self._send_console)
        console.write(f"task {task.id} pulled from {task.queue or '?'} by worker {worker_id}", "ductwork")
        try:
            with scratch.folder(task.id) as folder:
                try:
                    space = workspace.prepare(task.id, task.script, folder)
                    for note in space.notes:
                        console.write(note, "ductwork")
                    python = self._python(task, console)
                    process = self._start(task, space, python, console)
                except (DuctworkError, OSError) as exc:  # bad code, no environment, cannot start
                    console.write(str(exc), "ductwork")
                    console.close()
                    self._fail(task, str(exc))
                    return "failed"
                outcome = self._supervise(task, process)
                process.finish()
                return self._settle(task, outcome, console.tail, console.take())
        finally:
            console.close()  # no-op when already closed; sends what an error left behind

    def _start(
        self, task: TaskRecord, space: workspace.Workspace, python: str, console: ConsoleStream
    ) -> TaskProcess:
        argv = ["bash", *space.args] if space.shell_script else [python, *space.args]
        env = self._env(task, space.python_path)
        if self._containers is not None:  # docker mode: the task's image, arguments, setup script
            return self._containers.start(
                task.container, argv, cwd=space.cwd, env=env, paths=space.python_path, console=console
            )
        return self._launcher.start(
            task.script, argv, cwd=space.cwd, env=env, paths=space.python_path, console=console
        )

    def _python(self, task: TaskRecord, console: ConsoleStream) -> str:
        if self._containers is not None:
            return IMAGE_PYTHON
        if self.options.same_env:
            return environment.same_env_python()
        root = self.options.venvs or settings.home() / "venvs"
        return environment.venv_python(
            task.requirements, root, log=lambda text: console.write(text, "ductwork")
        )

    @functools.cached_property
    def _base_env(self) -> dict[str, str]:
        """The agent's own environment, read once (decoding os.environ cost ~0.3 ms a task)."""
        own = {k: v for k, v in os.environ.items() if k not in ("DUCTWORK_PIPE", "PYTHONHOME")}
        return {**own, **self._child_env}

    def _env(self, task: TaskRecord, python_path: list[str]) -> dict[str, str]:
        env = {**self._base_env, "DUCTWORK_TASK_ID": task.id, "PYTHONUNBUFFERED": "1"}
        env["DUCTWORK_CONSOLE_CAPTURED"] = "1"  # the agent streams stdout/stderr; the SDK must not too
        paths = [*python_path, *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])]
        env["PYTHONPATH"] = os.pathsep.join(paths)
        return env

    def _supervise(self, task: TaskRecord, process: TaskProcess) -> Ending:
        """Wait for the process; kill its tree on an abort or when the time limit passes."""

        def taken_back() -> str | None:
            process.console.flush_due()  # a quiet run's last lines are not held back either
            status = self._current(task)
            return status if status in _TAKEN_BACK else None

        limit = _seconds(task.runtime.get("time_limit"))
        return supervise(process.child, limit=limit, check=taken_back, every=ABORT_CHECK_S)

    def _current(self, claim: TaskRecord) -> str | None:
        """The task's status as far as this run is concerned: "taken" once someone else's
        claim replaced ours (re-queued and claimed again), None while the store is unreachable."""
        try:
            now = self.backend.get_task(claim.id)
        except NotFound:
            return "deleted"
        except DuctworkError:
            return None  # the server is unreachable for a moment: keep running
        if now.status == "in_progress" and (now.worker, now.started) != (claim.worker, claim.started):
            return "taken"
        return str(now.status)

    def _settle(self, task: TaskRecord, outcome: Ending, tail: list[str], lines: list[ConsoleLine]) -> str:
        """Record how the task ended (with its last console `lines`), unless it already says so
        itself (or was aborted)."""
        if outcome.stopped_as is not None:
            self._send_last(task, lines)
            return outcome.stopped_as
        if outcome.timed_out is not None:
            message = f"time limit exceeded: the task ran longer than {outcome.timed_out:g} s and was stopped"
            self._send_last(task, [*lines, ConsoleLine(task.id, message, "ductwork")])
            self._fail(task, message, reason="time limit")
            return "failed"
        if outcome.code == 0:
            return self._finish(task, "completed", "", "", lines)
        last = next((line for line in reversed(tail) if line.strip()), "")
        message = f"process exited with code {outcome.code}" + (f": {last.strip()[:300]}" if last else "")
        return self._finish(task, "failed", message, f"exit code {outcome.code}", lines)

    def _finish(
        self,
        claim: TaskRecord,
        status: str,
        message: str,
        reason: str,
        lines: list[ConsoleLine],
        defer: bool = True,
    ) -> str:
        slot: Slot | None = getattr(self._local, "slot", None) if defer else None
        if (
            slot is not None
            and self._claimer.takes_ends
            and (claim.worker, bool(claim.started)) == (slot.id, True)
        ):
            # Said with the slot's next claim (agent.wakeup.RunEnd), or on its own when it stops.
            slot.end = RunEnd(claim, status, message, reason, [line.storable() for line in lines])
            return status
        ended = self._end_claim(claim, status, message, reason, lines)
        if ended is not None:
            return ended
        self._send_last(claim, lines)
        try:
            self._final_status(claim, status, message, reason)
            return status
        except (Conflict, StatusError, NotFound):
            # The task set its own final status (Task.close, mark_failed), was aborted, or is
            # already someone else's run: keep what it says.
            return self._current(claim) or status

    def _say_end(self, slot: Slot) -> None:
        """The slot's last run's end, when no claim will carry it (stopping, a failed claim)."""
        end, slot.end = slot.end, None
        if end is not None:
            self._finish(end.claim, end.status, end.message, end.reason, end.console, defer=False)
            with self._done_lock:
                self._said_idle.discard(end.claim.id)

    def _send_last(self, task: TaskRecord, lines: list[ConsoleLine]) -> None:
        """A run's last console lines on their own; as with the console's own sender, a batch
        that cannot be sent is said, never fatal to the run's end."""
        try:
            self._send_console(lines)
        except DuctworkError as exc:
            self.options.log(f"ductwork agent: could not send console of task {task.id}: {exc}")

    def _end_claim(
        self, claim: TaskRecord, status: str, message: str, reason: str, lines: list[ConsoleLine]
    ) -> str | None:
        """The run's end, its last console lines and its slot idle in one call (one
        transaction, `end_claim`); answers the status the task is left with, or None when it
        could not be said that way (a backend without it, an error), for the patient path."""
        end = getattr(self.backend, "end_claim", None)
        if end is None or not claim.worker or claim.started is None:
            return None
        try:
            instead = end(
                claim.id,
                claim.worker,
                claim.started,
                status,
                message=message,
                reason=reason,
                console=[line.storable() for line in lines],
            )
        except DuctworkError:
            return None
        with self._done_lock:
            self._said_idle.add(claim.id)
        return status if instead is None else str(instead)

    def _fail(self, claim: TaskRecord, message: str, reason: str = "agent") -> None:
        try:
            self._final_status(claim, "failed", message, reason)
        except (Conflict, StatusError, NotFound):
            pass

    def _final_status(self, claim: TaskRecord, status: str, message: str, reason: str) -> None:
        """Record how this run of a task ended, retrying while the store or server is
        unreachable (a lost final status would leave the task running forever under a live
        agent). Never over another run's status: a task continued or re-queued meanwhile may
        already be in progress again under a new claim."""
        delay = 0.5
        deadline = time.monotonic() + FINAL_STATUS_PATIENCE_S
        while True:
            try:
                current = self._current(claim)
                if current is not None and current != "in_progress":
                    raise Conflict(f"task {claim.id} is {current}; this run's end is not recorded over it")
                self.backend.set_status(
                    claim.id, status, message=message, reason=reason, expect=["in_progress"]
                )
                return
            except StorageError as exc:
                if time.monotonic() > deadline:
                    self.options.log(f"ductwork agent: gave up recording task {claim.id} as {status}: {exc}")
                    return
                self.options.log(f"ductwork agent: cannot record task {claim.id} as {status} yet ({exc})")
                time.sleep(delay)
                delay = min(delay * 2, 10.0)

    def _send_console(self, lines: list[ConsoleLine]) -> None:
        try:
            self.backend.add_console([line.storable() for line in lines])
        except NotFound:
            pass  # the task was deleted while it ran

    # -- heartbeats --------------------------------------------------------------------------

    def _register(self, slot: Slot) -> None:
        self.backend.register_worker(
            Worker(
                id=slot.id,
                queues=list(self.options.queues),
                task_id=slot.task_id,
                host=socket.gethostname(),
                pid=os.getpid(),
            )
        )

    def _heartbeats(self) -> None:
        timeout = orphans.heartbeat_timeout()
        own = {slot.id for slot in self.slots}
        beats = 0
        while not self._stop.wait(self.options.heartbeat_s):
            beats += 1
            for slot in self.slots:
                try:
                    self.backend.heartbeat(slot.id, slot.task_id)
                except NotFound:
                    try:
                        self._register(slot)  # reaped while unreachable: come back
                    except DuctworkError as exc:
                        self.options.log(f"ductwork agent: cannot register {slot.id} again: {exc}")
                except DuctworkError as exc:
                    self.options.log(f"ductwork agent: heartbeat failed: {exc}")
            try:
                scan = beats % TASK_SCAN_EVERY == 0
                for task_id in orphans.reap(self.backend, timeout=timeout, spare=own, scan_tasks=scan):
                    self.options.log(f"ductwork agent: task {task_id} lost its agent; settled it")
            except DuctworkError as exc:
                self.options.log(f"ductwork agent: could not check for dead agents: {exc}")


def _containers(options: AgentOptions, child_env: dict[str, str]) -> ContainerLauncher:
    if options.same_env or options.ray:
        raise DuctworkError("--docker runs tasks with the image's python: not with --same-env or --ray")
    return ContainerLauncher(
        options.docker or "", options.container, child_env, agent=options.name, log=options.log
    )


def _seconds(value: Any) -> float | None:
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds > 0 else None
