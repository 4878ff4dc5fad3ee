"""Starting, owning and finishing a run: the executor for the mode, the `Run` and its engine, the
heartbeat that names this process as the run's owner, the abort watch, the time limit, and the
run's final status."""

from __future__ import annotations

import os
import sys
import threading
import time

from ductwork.client.pipe import PipeServer
from ductwork.core import dag
from ductwork.core.errors import Conflict, ValidationError
from ductwork.core.queries import TaskQuery
from ductwork.core.records import ConsoleLine, TaskRecord
from ductwork.core.states import TaskStatus
from ductwork.pipelines.heartbeat import Heartbeat, settle_dead
from ductwork.pipelines.options import (
    max_workers,
)
from ductwork.pipelines.run import Run, RunSettings
from ductwork.pipelines.seams import Executor
from ductwork.pipelines.writing import RunWriting


class RunOwning(RunWriting):
    _heartbeat: Heartbeat | None = None  # when this process owns the run (not an agent)
    _pipe_server: PipeServer | None = None  # local mode: the steps' transport to this backend
    _calls_in_caller = False  # debug mode: each step in the caller's thread (decorator pipelines)

    def _enqueue_self(self, queue: str) -> None:
        self._backend.ensure_queue(queue)
        self._backend.enqueue(self._task.id, queue)
        listening = [w for w in self._backend.list_workers() if queue in w.queues]
        if not listening:
            note = f"no agent listens on queue {queue!r}: start one with `ductwork agent --queue {queue}`"
            self._backend.set_status(self._task.id, "queued", message=note)  # stays queued, says why
            self._backend.add_console([ConsoleLine(task_id=self._task.id, text=note, stream="ductwork")])
            print(f"[ductwork] {note}")
        print(f"[ductwork] pipeline {self._task.name!r} queued on {queue!r}: task {self._task.id}")

    def _execute(self, mode: str, *, wait: bool = True) -> None:
        self._begin(mode)
        engine = self._live.engine
        for name in dag.topo_order({n: node.parents for n, node in self._nodes.items()}):
            engine.add(self._nodes[name])
        engine.seal()
        if wait:
            self._finish()

    def _begin(self, mode: str, *, verify: bool = True) -> None:
        if self._run is not None:
            raise ValidationError(f"pipeline {self._name!r} (task {self._task.id}) was already started")
        if verify:
            self._verify(need_queues=mode == "queue", in_process=mode == "debug")
        self._serialize()
        executor, inline = self._executor(mode)
        settings = self._run_settings()
        self._run = Run(settings, self._backend, executor, inline=inline, max_workers=max_workers(mode))
        self._run.stop_mark = self._early_stop
        self._task = self._backend.set_status(
            self._task.id, "in_progress", force=self._task.status != "created"
        )
        self._own(mode)
        self._started_at = time.time()
        if self._time_limit:
            timer = threading.Timer(self._time_limit, self._time_out)
            timer.daemon = True
            timer.start()
        self._live.engine.start()
        threading.Thread(target=self._watch_abort, name="ductwork-abort-watch", daemon=True).start()

    def _run_settings(self) -> RunSettings:
        return RunSettings(
            owner=self,
            controller=self._task,
            arguments=self._args_values(),
            nodes=self._nodes,
            step_project=self._step_project,
            refresh=self._refresh,
            write_dag=self._write_dag,
            encode_dag=self._dag_text.encode,
            default_queue=self._default_queue,
            output_uri=self._output_uri,
            retry=self._retry,
            abort_on_failure=self._abort_on_failure,
            serialize=self._serialize_fn,
            deserialize=self._deserialize_fn,
            step_tags=tuple(self._step_tags()),
            created_callback=self._callbacks.get("created"),
            completed_callback=self._callbacks.get("completed"),
        )

    @property
    def _live(self) -> Run:
        """The run this pipeline is running (it has begun)."""
        if self._run is None:
            raise ValidationError(f"pipeline {self._name!r} has not started")
        return self._run

    @property
    def _stop_mark(self) -> str | None:
        """Why the run stops ("aborted", "failed", "taken"): the run's, kept here until it begins."""
        return self._run.stop_mark if self._run is not None else self._early_stop

    @_stop_mark.setter
    def _stop_mark(self, mark: str | None) -> None:
        if self._run is not None:
            self._run.stop_mark = mark
        else:
            self._early_stop = mark

    def _own(self, mode: str) -> None:
        """Name this process as the one running the run and its local steps, so that they
        are settled (failed, with the reason) if it dies; settle what earlier ones left."""
        from ductwork.core import orphans

        settle_dead(self._backend)
        worker = ""
        if not self._remote:  # under an agent, the agent's own heartbeat stands for this process
            self._heartbeat = Heartbeat(self._backend, self._task.id)
            worker = self._heartbeat.start()
            owner = orphans.owner(worker, started=self._task.started)
            self._task = self._backend.edit_task(
                self._task.id, {"runtime": {**self._task.runtime, orphans.OWNER_KEY: owner}}
            )
        if mode in ("local", "debug"):
            self._live.step_owner = orphans.owner(worker)

    def _watch_abort(self, every: float = 0.5) -> None:
        """Stop when the run is aborted from outside (the web UI, `ductwork tasks abort`): its
        controller task turns `stopped` while this process still runs it."""
        run = self._live
        while not run.engine.finished.wait(every):
            try:
                record = self._backend.get_task(self._task.id)
            except Exception:
                continue  # a passing store error: look again next time
            if self._taken_over(record):
                self._stop_mark = "taken"
                run.log("the run was continued by another process; this one leaves it to that one")
                run.engine.stop("the pipeline run was continued elsewhere")
                return
            if record.status == TaskStatus.stopped:
                self._stop_mark = "aborted"
                run.log("the run was aborted from outside; stopping its steps")
                run.engine.stop("the pipeline run was aborted")
                return
            self._stop_stopped_steps(run)

    def _stop_stopped_steps(self, run: Run) -> None:
        """A step whose task was stopped from outside (the web UI's abort, `ductwork tasks
        abort`) while it runs: an agent stops the steps it runs itself, but a step process or
        call of this controller is stopped here, and the step ends aborted."""
        running = {node.state.job_id: node for node in run.engine.running() if node.state.job_id}
        if not running:
            return
        try:
            stopped = self._backend.query_tasks(TaskQuery(ids=list(running), status=[TaskStatus.stopped]))
        except Exception:
            return  # a passing store error: look again next time
        for record in stopped:
            run.engine.report(running[record.id], "stopped", None)

    def _taken_over(self, record: TaskRecord) -> bool:
        """Whether someone else runs this run now: "Continue" (queued again, claimed by an
        agent: a new start) while this process still ran it, e.g. right after an abort it had
        not yet seen. This process must then leave the run's status alone."""
        if record.status in (TaskStatus.queued, TaskStatus.created):
            return True
        return record.status == TaskStatus.in_progress and record.started != self._task.started

    def _executor(self, mode: str) -> tuple[Executor, bool]:
        from ductwork.pipelines import executors

        workers = max_workers(mode)
        if mode == "debug":
            from ductwork.pipelines.synchronous import CallerExecutor

            kind = CallerExecutor if self._calls_in_caller else executors.InlineExecutor
            inline = kind(self._backend, workers, serialize=self._serialize_fn)
            if all(node.function is not None for node in self._nodes.values()):
                return inline, True
            from ductwork.pipelines.mixed import MixedExecutor

            # Steps made from existing tasks have no function to call: local processes.
            return MixedExecutor(inline, self._process_executor()), True
        if mode == "local":
            return self._process_executor(), False
        return executors.QueueExecutor(self._backend), False

    def _process_executor(self) -> Executor:
        from ductwork.pipelines import executors

        self._pipe_server = PipeServer(self._backend)
        return executors.ProcessExecutor(
            self._backend, self._pipe_server.address, pythonpath=self._local_paths()
        )

    def _local_paths(self) -> list[str]:
        if not self._enable_local_imports:
            return []
        main = sys.modules.get("__main__")
        path = getattr(main, "__file__", None)
        folders = [os.path.dirname(os.path.abspath(path))] if path else []
        return [*folders, os.getcwd()]

    def _time_out(self) -> None:
        if self._run is not None and not self._live.engine.finished.is_set():
            self._stop_mark = "failed"
            self._live.log(f"pipeline time limit of {self._time_limit:g} s exceeded; stopping")
            self._live.engine.stop("pipeline time limit exceeded")

    def _finish(self) -> None:
        run = self._live
        run.engine.wait()
        run.executor.close()
        server = self._pipe_server
        if server is not None:
            server.close()
        run.flush(list(self._nodes.values()))
        run.write_config()
        run.pending.close()
        failed = [
            n.name
            for n in self._nodes.values()
            if n.status in ("failed", "aborted") and not n.continue_on_fail
        ]
        if run.engine.error is not None:
            self._close("failed", f"scheduler error: {run.engine.error!r}")
        elif self._stop_mark == "aborted":
            self._close("stopped", "Pipeline aborted")
        elif self._stop_mark == "failed" or failed:
            self._close(
                "failed",
                f"Pipeline step failed: {', '.join(failed)}" if failed else "Pipeline aborted and failed",
            )
        else:
            self._close("completed", "")
        beat = self._heartbeat
        if beat is not None:
            beat.stop()
        self._release_current()

    def _close(self, status: str, reason: str) -> None:
        from ductwork.sdk.task import Task

        Task._from_record(self._task).flush(wait_for_uploads=True)
        if self._stop_mark == "taken" or self._taken_over(self._backend.get_task(self._task.id)):
            self._live.log("the run is being run by another process; its status is left to it")
            return
        try:
            # Only from running: a run aborted, continued or re-queued from outside meanwhile
            # keeps what was decided there.
            self._task = self._backend.set_status(
                self._task.id, status, reason=reason, force=True, expect=[TaskStatus.in_progress.value]
            )
        except Conflict:
            self._task = self._backend.get_task(self._task.id)
            self._live.log(f"the run is {self._task.status} (changed from outside); its status is left as is")
            return
        if reason:
            self._live.log(reason)

    def stop(
        self, timeout: float | None = None, mark_failed: bool = False, mark_aborted: bool = False
    ) -> None:
        """Stop the run (safe from a callback: it then returns at once, without waiting)."""
        self._stop_mark = (
            "failed" if mark_failed else "aborted" if mark_aborted else self._stop_mark or "aborted"
        )
        if self._run is None:
            return
        self._live.stopped_by_user = True
        self._live.engine.stop("pipeline stopped")
        if not self._live.engine.on_loop:
            self.wait(timeout)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the run to end; `timeout` in minutes. True if it ended."""
        if self._run is None:
            return True
        return bool(self._live.engine.wait(timeout * 60 if timeout is not None else None))

    def is_running(self) -> bool:
        return self._run is not None and not self._live.engine.finished.is_set()
