"""This process as the owner of a run: a heartbeat like an agent's, and settling dead peers.

A controller running in this process (not under an agent) beats, so a dead one is found from
other machines too; the tasks it runs name it as their owner (`core.orphans`).
"""

from __future__ import annotations

import os
import socket
import threading

from ductwork.client.contract import Backend
from ductwork.core import orphans
from ductwork.core.errors import DuctworkError, NotFound
from ductwork.core.records import Worker


class Heartbeat:
    """A controller running in this process (not under an agent) beats like an agent, so a
    dead one is found from other machines too; its tasks name it as their owner
    (`orphans.owner`). On the same tick it settles dead peers, as agents do: in embedded mode
    there is no server watchdog to do it."""

    def __init__(self, backend: Backend, task_id: str, every: float = 2.0) -> None:
        self.backend = backend
        self.task_id = task_id
        self.every = every
        self.worker = f"controller:{socket.gethostname()}:{os.getpid()}:{task_id}"
        self._stop = threading.Event()
        self._registered = False

    def start(self) -> str:
        """Register and start beating; answers the worker id ("" if the server refused it:
        then only this machine can tell that the process died)."""
        try:
            self._register()
        except DuctworkError as exc:
            print(f"[ductwork] no controller heartbeat ({exc}); dead runs are found on this host only")
            return ""
        self._registered = True
        threading.Thread(target=self._beat, name="ductwork-controller-beat", daemon=True).start()
        return self.worker

    def _register(self) -> None:
        self.backend.register_worker(
            Worker(
                id=self.worker, queues=[], task_id=self.task_id, host=socket.gethostname(), pid=os.getpid()
            )
        )

    def _beat(self) -> None:
        timeout = orphans.heartbeat_timeout()
        beats = 0
        while not self._stop.wait(self.every):
            beats += 1
            try:
                try:
                    self.backend.heartbeat(self.worker, self.task_id)
                except NotFound:  # reaped while this process was paused or the server away
                    self._register()
                if beats % 5 == 0:
                    orphans.reap(self.backend, timeout=timeout, spare={self.worker}, scan_tasks=True)
            except Exception:  # a passing failure; the next beat tries again
                continue

    def stop(self) -> None:
        self._stop.set()
        if self._registered:
            try:
                self.backend.unregister_worker(self.worker)
            except DuctworkError:
                pass  # already reaped, or the server is away: it is silent either way


def settle_dead(backend: Backend) -> list[str]:
    """Settle tasks whose process died (this machine's at once, others' by heartbeat):
    embedded mode has no watchdog, so each ductwork process that looks does it."""
    try:
        return orphans.reap(backend, timeout=orphans.heartbeat_timeout(), scan_tasks=True)
    except DuctworkError:
        return []  # looking is a courtesy: a failure here must not stop what the caller does
