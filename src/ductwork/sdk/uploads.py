"""The background uploads of a task: artifacts, debug images and model files.

Uploads run on a few process-wide threads that the interpreter waits for at exit. Each task
keeps the futures of its own uploads: `Task.flush(wait_for_uploads=True)` and `Task.close()`
wait for them and raise a StorageError naming every upload that failed, so a background
failure is never silently lost.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from ductwork.core.errors import StorageError
from ductwork.sdk import losses, shutdown

if TYPE_CHECKING:
    from concurrent.futures import Future

_WORKERS = 4


class _Workers:
    """Up to `size` background threads that run queued jobs and end as soon as none is left.

    Not a ThreadPoolExecutor: its exit hook refuses new work before `atexit` handlers run,
    so an upload queued as a script's last line used to fail. These threads are not daemons,
    so the interpreter waits for them (and everything they queue) before it exits; as they
    end when idle, an idle process exits at once. They are drained at exit before the thread
    pools close (`shutdown`), since a storage client may need one (object storage does).
    """

    def __init__(self, size: int, name: str) -> None:
        self._size = size
        self._name = name
        self._lock = threading.Lock()
        self._jobs: deque[Callable[[], None]] = deque()
        self._running = 0
        self._threads: set[threading.Thread] = set()
        self._exit_hook_set = False

    def submit(self, action: Callable[[], None]) -> Future[None]:
        from concurrent.futures import Future  # the plain future: no executor, no exit hook

        future: Future[None] = Future()

        def job() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                action()
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(None)

        with self._lock:
            self._jobs.append(job)
            if not self._exit_hook_set:
                self._exit_hook_set = True
                shutdown.before_thread_pools_close(self.drain)
            if self._running < self._size:
                self._running += 1
                worker = threading.Thread(target=self._work, name=self._name, daemon=False)
                self._threads.add(worker)
                worker.start()
        return future

    def _work(self) -> None:
        while True:
            with self._lock:
                if not self._jobs:
                    self._running -= 1
                    self._threads.discard(threading.current_thread())
                    return
                job = self._jobs.popleft()
            job()

    def drain(self) -> None:
        """Wait until every queued job has run (and every job those queued)."""
        while True:
            with self._lock:
                workers = list(self._threads)
            if not workers:
                return
            for worker in workers:
                worker.join()

    def after_fork(self) -> None:
        # The parent's threads do not exist in a forked child; its jobs belong to the parent.
        self._lock = threading.Lock()
        self._jobs.clear()
        self._running = 0
        self._threads = set()


_workers = _Workers(_WORKERS, "ductwork-upload")


def _reset_after_fork() -> None:
    _workers.after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


class Uploads:
    """The background uploads of one task (artifacts, debug images, model files)."""

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        self._lock = threading.Lock()
        self._pending: dict[str, Future[None]] = {}  # by artifact name: a newer upload waits for older
        self._failed: list[str] = []

    def submit(self, key: str, job: Callable[[], object], what: str) -> None:
        with self._lock:
            before = self._pending.get(key)
            future = _workers.submit(partial(self._run, before, job, what))
            self._pending[key] = future
        future.add_done_callback(lambda done: self._forget(key, done))

    def _run(self, before: Future[None] | None, job: Callable[[], object], what: str) -> None:
        if before is not None:
            try:
                before.result()
            except Exception:
                pass  # the older upload's failure is reported on its own
        try:
            job()
        except Exception as exc:
            message = f"{what}: {exc}"
            with self._lock:
                self._failed.append(message)
            kind = what.split(" ", 1)[0] if what.startswith(("artifact ", "image ")) else "upload"
            losses.record(self.task_id, kind, 1, message)  # said on stderr, carried by the task

    def _forget(self, key: str, done: Future[None]) -> None:
        with self._lock:
            if self._pending.get(key) is done:
                del self._pending[key]

    def wait(self, timeout: float | None = None) -> None:
        """Wait for every upload so far; raise StorageError listing those that failed."""
        from concurrent.futures import TimeoutError as FuturesTimeout

        with self._lock:
            futures = list(self._pending.values())
        for future in futures:
            try:
                future.result(timeout=timeout)
            except FuturesTimeout as exc:
                raise StorageError(f"task {self.task_id}: uploads still running after {timeout} s") from exc
        with self._lock:
            failed, self._failed = self._failed, []
        if failed:
            losses.raised(self.task_id)  # the caller is told
            raise StorageError(f"task {self.task_id}: {len(failed)} upload(s) failed: " + "; ".join(failed))

    def wait_for(self, name: str) -> None:
        """Wait for a background upload of artifact `name`, so a newer synchronous one wins."""
        with self._lock:
            future = self._pending.get(f"artifact:{name}")
        if future is not None:
            future.result()

    def busy(self) -> bool:
        with self._lock:
            return bool(self._pending)
