"""Executors: where a step attempt runs. One scheduler, three places.

* `InlineExecutor` (debug): the function is called in this process, on a worker thread.
* `ProcessExecutor` (local): one fresh process per step, same interpreter and environment; it
  reports to the controller over the pipe, its console is read from its stdout/stderr.
* `QueueExecutor` (remote): the step task is enqueued and an agent runs it.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ductwork.client.contract import Backend
from ductwork.core import launch
from ductwork.core.errors import Conflict, StatusError, ValidationError
from ductwork.core.records import ConsoleLine
from ductwork.core.states import TaskStatus
from ductwork.core.warmstart import RUNNER
from ductwork.pipelines import repository, warming
from ductwork.pipelines.batching import Call, calls_in_order
from ductwork.pipelines.engine import LOOK_EVERY_S
from ductwork.pipelines.node import Node
from ductwork.pipelines.pending import Pending
from ductwork.pipelines.runner import result_calls, split_results
from ductwork.pipelines.seams import Outcome, Report
from ductwork.pipelines.state import Job
from ductwork.process import Child, Output, kill_tree_later, spawn
from ductwork.sdk.capture import frameworks
from ductwork.sdk.starting import records_console
from ductwork.sdk.task import Task

# After a step process ended, its output is read at most this long: a background process it
# started (and left running) may keep its stdout open; the step ends without waiting for it.
OUTPUT_DRAIN_S = 5.0

_FINAL_OUTCOME = {
    TaskStatus.completed.value: "completed",
    TaskStatus.published.value: "completed",
    TaskStatus.failed.value: "failed",
    TaskStatus.stopped.value: "aborted",
}


def _failed(exc: BaseException) -> Outcome:
    return Outcome("failed", f"{type(exc).__name__}: {exc}")


class _Once:
    """Reports a step's end once, whoever comes first (the step, or an abort)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ended: set[str] = set()

    def end(
        self, node: Node, report: Report, outcome: Outcome, record: Callable[[], object] | None = None
    ) -> bool:
        """Report `outcome` unless the step already ended; `record` (its task's final status)
        runs first, so whoever the report wakes sees the task as it ended. An `Outcome` that
        `record` answers replaces `outcome` (the task turned out to be aborted meanwhile)."""
        with self._lock:
            key = f"{node.name}:{node.state.job_id}"
            if key in self._ended:
                return False
            self._ended.add(key)
        if record is not None:
            try:
                recorded = record()
            except Exception as exc:  # the run must hear of the end even when the store fails
                recorded = Outcome(
                    "failed", f"the step's end could not be recorded: {type(exc).__name__}: {exc}"
                )
            if isinstance(recorded, Outcome):
                outcome = recorded
        report(node, "done", outcome)
        return True


class InlineExecutor:
    """Debug mode: plain function calls in this process, on a pool of threads.

    A thread cannot be killed, so an abort (a stop, a time limit) ends the step's record at
    once and the call's eventual result is dropped.
    """

    def __init__(
        self, backend: Backend, max_workers: int, *, serialize: Callable[[Any], bytes] | None = None
    ) -> None:
        self.backend = backend
        self._serialize = serialize  # the pipeline's artifact_serialization_function
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="ductwork-step")
        self._once = _Once()
        self._reports: dict[str, Report] = {}
        self.pending: Pending | None = None  # the run's, when its step ends may wait for it
        # Figures and TensorBoard writers report to the step that is current: watched once a
        # run (a framework imported later is patched as it loads), not once a step.
        frameworks.enable(frameworks.switches(True))
        self._console = records_console()  # asked once a run, as the frameworks

    def start(self, node: Node, report: Report) -> None:
        job, function = node.state.job, node.spec.function
        if job is None or function is None:
            raise ValidationError(f"step {node.name!r} has no in-process call to make")
        self._reports[node.name] = report
        self._pool.submit(self._run, node, report, job, function)

    def _run(self, node: Node, report: Report, job: Job, function: Callable[..., Any]) -> None:
        task_id = str(node.state.job_id)
        record = job.record  # created in_progress by the run: one write less per step
        record_end: Callable[[], object]  # the end's writes, made before it is reported
        try:
            report(node, "running", None)
            options = node.spec.options
            began = time.monotonic()
            # The step's Task is made when its body first asks (prints, logs, plots): most
            # debug steps never do, and making one is a good part of a short step's cost.
            task = Task._deferred(record, console=self._console)
            with task, repository.inside(options.repository, options.working_dir):
                result = function(*job.args, **job.kwargs)
                pairs = split_results(node.spec.return_names, result, node.name)
                calls = result_calls(
                    self.backend, task_id, pairs, output_uri=record.output_uri, serialize=self._serialize
                )
            if task.made is not None:  # its metrics are in before monitors copy them
                task.made.flush(wait_for_uploads=True)
        except BaseException as exc:
            outcome, record_end = _failed(exc), functools.partial(self._fail, task_id, exc)
        else:
            outcome = Outcome("completed", result=result)
            record_end = functools.partial(self._complete, task_id, calls, time.monotonic() - began)
        # Ending: nothing left to abort. (Before the end is reported: a retry the report starts
        # puts its own in.)
        self._reports.pop(node.name, None)
        self._once.end(node, report, outcome, record_end)

    def _complete(self, task_id: str, calls: list[Call], ran: float) -> Outcome | None:
        """The results recorded and the task completed, in one batch (the run's next one, when
        it keeps `pending`); unless the step was aborted (or settled) from outside while its
        function ran: a thread cannot be stopped, so that status is kept, its result dropped.
        A function that took less than LOOK_EVERY_S is not looked at: a stop in that time
        is taken as one just after its end (the batch then says so on the run's log)."""
        done: Call = ("set_status", (task_id, "completed"), {"expect": [TaskStatus.in_progress.value]})
        if self.pending is not None and (
            ran < LOOK_EVERY_S or self.backend.get_task(task_id).status == TaskStatus.in_progress
        ):
            self.pending.end(task_id, [*calls, done])
            return None
        try:
            calls_in_order(self.backend, [*calls, done])
        except (Conflict, StatusError):
            current = self.backend.get_task(task_id)
            why = current.status_message or current.status_reason or str(current.status)
            return Outcome(_FINAL_OUTCOME.get(str(current.status), "failed"), why)
        except Exception as exc:  # the results were refused: the step fails, saying why
            self._fail(task_id, exc)
            return _failed(exc)
        return None

    def _fail(self, task_id: str, exc: BaseException) -> None:
        text = "".join(traceback.format_exception(exc))
        self.backend.add_console([ConsoleLine(task_id=task_id, text=text, stream="stderr").storable()])
        self.backend.set_status(task_id, "failed", reason=f"{type(exc).__name__}: {exc}", force=True)

    def abort(self, node: Node) -> None:
        report = self._reports.get(node.name)
        if report is not None:
            self._once.end(
                node,
                report,
                Outcome("aborted", node.state.error),
                lambda: self.backend.set_status(
                    str(node.state.job_id), "stopped", message=node.state.error or "aborted", force=True
                ),
            )

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class ProcessExecutor:
    """Local mode: one fresh process per step, forked from a warm server when the platform can
    (set `DUCTWORK_LOCAL_SPAWN=fresh` to start each one as a new interpreter instead)."""

    def __init__(self, backend: Backend, pipe_address: str, *, pythonpath: list[str]) -> None:
        self.backend = backend
        self.pipe_address = pipe_address
        self.pythonpath = pythonpath
        self._procs: dict[str, Child] = {}
        self._once = _Once()
        self._reports: dict[str, Report] = {}
        self._lock = threading.Lock()
        self._preloaded: set[str] = set()  # step sources already looked at
        self._modules: set[str] = set()  # modules the fork server was asked to import
        self._warm = warming.take_pool()

    def _preload(self, code: str) -> None:
        """Installed packages a step's code imports are imported once, in the fork server."""
        if not code or code in self._preloaded or os.environ.get("DUCTWORK_PRELOAD", "1") == "0":
            return
        self._preloaded.add(code)
        wanted = [m for m in warming.installed_imports(code) if m not in self._modules]
        if wanted and self._warm is not None:
            self._modules.update(wanted)
            self._warm.preload(wanted)

    def _spawn(
        self, task_id: str, plan: launch.Launch, cwd: str | None, code: str = "", checkout: str | None = None
    ) -> Child:
        """Forked from the warm server when the step runs the runner (and the server works),
        else a fresh interpreter. A step from a repository has its checkout's root first on its
        path, as on an agent."""
        paths = [*([checkout] if checkout else []), *self.pythonpath]
        env = self._env(task_id, paths)
        if self._warm is not None and plan.argv == ["-m", RUNNER]:
            self._preload(code)
            forked = self._warm.fork(env, cwd, paths)
            if forked is not None:
                return forked
        return spawn([sys.executable, *plan.argv], cwd=cwd, env=env)

    def start(self, node: Node, report: Report) -> None:
        task_id = str(node.state.job_id)
        record = self.backend.set_status(task_id, "in_progress")
        # A local step runs where the user started the pipeline (the live folder, not the one
        # its task recorded), so relative paths in its code mean what they did in the user's.
        folder = tempfile.mkdtemp(prefix=f"ductwork-{task_id[:8]}-")  # a standalone script's file
        try:
            # repo=: it runs in a checkout instead (a fresh clone in `folder`, or the user's own)
            source = node.spec.options.repository if record.script.get("repository") else None
            checkout = repository.step_checkout(source, folder) if source else None
            plan = launch.plan(
                task_id,
                record.script,
                folder=folder,
                exists=os.path.exists,
                here=os.getcwd(),
                checkout=checkout,
            )
            if not os.path.isdir(plan.cwd):
                raise ValidationError(f"task {task_id}: its working folder {plan.cwd} does not exist")
            for path, content in plan.files.items():
                with open(path, "w", encoding="utf-8") as handle:
                    handle.write(content)
            if plan.note:
                self._emit(task_id, "ductwork", [plan.note])
            proc = self._spawn(task_id, plan, plan.cwd, str(record.script.get("code") or ""), checkout)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        with self._lock:
            self._procs[node.name] = proc
            self._reports[node.name] = report
        report(node, "running", None)
        threading.Thread(target=self._watch, args=(node, proc, report, folder), daemon=True).start()

    def _env(self, task_id: str, pythonpath: list[str]) -> dict[str, str]:
        env = dict(os.environ)
        env["DUCTWORK_TASK_ID"] = task_id
        env["DUCTWORK_PIPE"] = self.pipe_address
        env["DUCTWORK_CONSOLE_CAPTURED"] = "1"  # the controller reads its stdout/stderr
        env["PYTHONUNBUFFERED"] = "1"
        paths = [*pythonpath, *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
        return env

    def _watch(self, node: Node, proc: Child, report: Report, folder: str) -> None:
        task_id = str(node.state.job_id)
        output = Output(proc, functools.partial(self._emit, task_id))
        code = proc.wait()
        output.join(OUTPUT_DRAIN_S)  # a grandchild still holding the pipes does not hold the step up
        shutil.rmtree(folder, ignore_errors=True)
        with self._lock:
            self._procs.pop(node.name, None)
        try:
            outcome = self._record_end(task_id, code)
        except Exception as exc:  # the store failed past its retries: the run must still move on
            outcome = Outcome("failed", f"the step's end could not be recorded: {type(exc).__name__}: {exc}")
        self._once.end(node, report, outcome)

    def _record_end(self, task_id: str, code: int) -> Outcome:
        if code == 0:
            try:  # the usual end, in one write: it ran and is still ours to settle
                self.backend.set_status(task_id, "completed", expect=[TaskStatus.in_progress.value])
                return Outcome("completed")
            except (Conflict, StatusError):
                pass  # it settled itself, or was stopped meanwhile: say what it is
            return Outcome(_FINAL_OUTCOME.get(self.backend.get_task(task_id).status, "completed"))
        final = self.backend.get_task(task_id)
        status, stopped_why = final.status, final.status_message if final.status == TaskStatus.stopped else ""
        reason = final.status_reason or stopped_why or f"step process exited with code {code}"
        if status == TaskStatus.in_progress:
            self.backend.set_status(task_id, "failed", reason=reason, force=True)
        return Outcome(_FINAL_OUTCOME.get(status, "failed"), reason)

    def _emit(self, task_id: str, name: str, lines: list[str]) -> None:
        """A batch of a step's output lines into its console, echoed to ours."""
        now = time.time()
        self.backend.add_console(
            [ConsoleLine(task_id=task_id, text=t, stream=name, ts=now).storable() for t in lines]
        )
        try:
            echo = sys.stdout if name == "stdout" else sys.stderr
            echo.write("".join(f"{t}\n" for t in lines))
        except (OSError, ValueError):
            pass  # our own stdout is gone; the console record is what matters

    def abort(self, node: Node) -> None:
        with self._lock:
            proc = self._procs.get(node.name)
            report = self._reports.get(node.name)
        if proc is None or report is None:
            return
        message = node.state.error or "aborted"
        self.backend.set_status(str(node.state.job_id), "stopped", message=message, force=True)
        kill_tree_later(proc)

    def close(self) -> None:
        with self._lock:
            procs = list(self._procs.values())
        for proc in procs:
            kill_tree_later(proc)
        if self._warm is not None:
            self._warm.close()  # the steps it forked die with it


class QueueExecutor:
    """Remote steps: enqueue the task on its queue; an agent runs it; watch its status.

    All in-flight tasks are read with one query per tick; a tick comes sooner when a step is
    added. Agents publish through the store, so this is the one place the controller polls.
    """

    def __init__(self, backend: Backend, *, tick: float = 0.02) -> None:
        self.backend = backend
        self.tick = tick
        self._watched: dict[str, tuple[Node, Report, bool]] = {}
        self._queues: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._watch, name="ductwork-queue-watch", daemon=True)
        self._thread.start()

    def start(self, node: Node, report: Report) -> None:
        task_id = str(node.state.job_id)
        queue = str(node.spec.options.queue)
        if queue not in self._queues:  # a queue no agent has created yet still takes the step
            self.backend.ensure_queue(queue)
            self._queues.add(queue)
        self.backend.enqueue(task_id, queue)
        with self._lock:
            self._watched[task_id] = (node, report, False)
        self._wake.set()

    def _watch(self) -> None:
        """Until closed, whatever a read raises: the steps are on agents and finish without
        us; a watcher that died would leave the run waiting for ever (a server restart)."""
        failing = 0
        while not self._closed:
            with self._lock:
                ids = list(self._watched)
            if not ids:
                self._wake.wait()
                self._wake.clear()
                continue
            try:
                for record in self.backend.get_tasks(ids):
                    self._update(record.id, record.status, record.status_reason or record.status_message)
            except Exception as exc:
                failing += 1
                if failing == 1:
                    print(f"[ductwork] watching queued steps failed ({exc!r}); still watching", flush=True)
                time.sleep(min(0.05 * 2 ** min(failing, 6), 2.0))  # back off while the store is away
                continue
            if failing:
                print("[ductwork] watching queued steps again", flush=True)
                failing = 0
            self._wake.wait(self.tick)
            self._wake.clear()

    def _update(self, task_id: str, status: str, message: str) -> None:
        with self._lock:
            entry = self._watched.get(task_id)
        if entry is None:
            return
        node, report, running = entry
        if status == TaskStatus.in_progress and not running:
            with self._lock:
                self._watched[task_id] = (node, report, True)
            report(node, "running", None)
        elif status in _FINAL_OUTCOME:
            with self._lock:
                self._watched.pop(task_id, None)
            if status == TaskStatus.stopped and not message:  # the web UI, `node.job.abort()`
                message = "its task was stopped from outside"
            report(node, "done", Outcome(_FINAL_OUTCOME[status], message))

    def abort(self, node: Node) -> None:
        task_id = str(node.state.job_id)
        record = self.backend.get_task(task_id)
        if record.status == TaskStatus.queued:
            self.backend.dequeue(task_id)
        if record.status not in _FINAL_OUTCOME:
            self.backend.set_status(task_id, "stopped", message=node.state.error or "aborted", force=True)

    def close(self) -> None:
        self._closed = True
        self._wake.set()
