"""`python -m ductwork.agent.ray.driver REQUEST`: one task as a Ray task, seen as a process.

The agent runs this as the task's process (`launcher.py`). It connects to the cluster, submits
`remote.run` with the task's resources, and then:
* says on the console that the task waits for resources until a node starts it, and when no
  node of the cluster has what it asks for at all (it waits for such a node to join);
* prints the task's console lines as they arrive (stdout to stdout, the rest to stderr);
* on SIGTERM (an abort, a time limit, the agent stopping) cancels the Ray task, which stops
  the task's process on its node, and exits as a process killed by SIGTERM;
* when the node or Ray worker is lost, settles the task as a lost agent's
  (`orphans.settle_lost`: failed, or back on its queue while `retries_left` allows);
* exits with the task process's exit code.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from ductwork.agent.ray import remote, resources

# How often the wait for resources is told again on the console.
STILL_WAITING_S = 30.0
# How often a waiting task looks whether any live node could ever run it.
LOOK_EVERY_S = 5.0
# After a cancel, how long the Ray task gets to stop its process before it is forced.
CANCEL_GRACE_S = 1.5
# Exit codes: as a process ended by SIGTERM; the Ray task failed in ductwork or in Ray.
CANCELLED = 128 + signal.SIGTERM
FAILED = 1


def main(argv: list[str]) -> int:
    path = Path(argv[1])
    request = json.loads(path.read_text(encoding="utf-8"))
    path.unlink(missing_ok=True)
    stop = threading.Event()
    _catch(stop)
    import ray

    try:
        ray.init(address=request["address"], log_to_driver=False, logging_level=logging.ERROR)
    except Exception as exc:  # no cluster there, or it refused us: the task fails saying so
        _note(f"cannot connect to the Ray cluster at {request['address']}: {exc}")
        return FAILED
    _catch(stop)  # again: ray.init put in handlers of its own, which log and exit
    try:
        return Driver(request, stop).run()
    finally:
        ray.shutdown()


def _catch(stop: threading.Event) -> None:
    """SIGTERM and SIGINT set `stop` (the follow loop then cancels the Ray task)."""

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


class Driver:
    def __init__(self, request: dict[str, Any], stop: threading.Event) -> None:
        self.request = request
        self.stop = stop
        self.amounts: dict[str, float] = request["resources"]
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()

    def run(self) -> int:
        import ray

        try:  # Ray has rules of its own (an amount over 1 must be whole, ...)
            task = ray.remote(remote.run).options(
                **resources.ray_options(self.amounts),
                max_retries=0,
                num_returns="streaming",
                name=f"ductwork {self.request['task_id']}",
            )
            stream = task.remote(self.request["task_id"], self.request["script"], self.request["env"])
        except ValueError as exc:
            _note(f"Ray refused the task's resources ({resources.describe(self.amounts)}): {exc}")
            return FAILED
        _note(f"waiting for Ray resources ({resources.describe(self.amounts)})")
        threading.Thread(target=self._read, args=(stream,), name="ray-events", daemon=True).start()
        return self._follow(stream)

    def _read(self, stream: Any) -> None:
        """Each event the Ray task yields, in order, then how the stream ended."""
        import ray

        try:
            for ref in stream:
                self.events.put(("event", ray.get(ref)))
        except Exception as exc:  # how the Ray task ended, sorted out by _ended
            self.events.put(("error", exc))
            return
        self.events.put(("end", None))

    def _follow(self, stream: Any) -> int:
        import ray

        started = False
        waiting = Waiting(self.amounts)
        cancelled_at: float | None = None
        while True:
            try:
                kind, value = self.events.get(timeout=0.25)
            except queue.Empty:
                kind, value = "", None
            if kind == "event":
                started = started or "node" in value
                code = _show(value)
                if code is not None:
                    return CANCELLED if cancelled_at is not None else _exit_status(code)
            elif kind == "end":
                return CANCELLED if cancelled_at is not None else FAILED
            elif kind == "error":
                return self._ended(value, cancelled=cancelled_at is not None)
            now = time.monotonic()
            if self.stop.is_set() and cancelled_at is None:
                cancelled_at = now
                _note("cancelling the Ray task" + ("" if started else " (it never started)"))
                ray.cancel(stream)
            elif cancelled_at is not None and now - cancelled_at > CANCEL_GRACE_S:
                ray.cancel(stream, force=True)
                return CANCELLED
            if not started and cancelled_at is None:
                waiting.tick(now)

    def _ended(self, exc: Exception, *, cancelled: bool) -> int:
        import ray.exceptions as errors

        if cancelled or isinstance(exc, errors.TaskCancelledError):
            _note("the Ray task was cancelled")
            return CANCELLED
        if isinstance(exc, errors.RayTaskError):  # ductwork's own part failed (bad code)
            _note(f"the Ray task failed: {exc.cause if exc.cause is not None else exc}")
            return FAILED
        lost = (
            errors.WorkerCrashedError,
            errors.NodeDiedError,
            errors.ObjectLostError,
            errors.LocalRayletDiedError,
            errors.RaySystemError,
        )
        why = f"its Ray node or worker was lost ({type(exc).__name__}: {str(exc).splitlines()[0][:300]})"
        _note(why)
        if isinstance(exc, lost):
            _settle_lost(self.request, why)
        return FAILED


class Waiting:
    """What the console says while the task waits for room on the cluster: when no live node
    has all it asks for (looked at every `LOOK_EVERY_S`: nodes join and die), and every
    `STILL_WAITING_S` that it still waits."""

    def __init__(self, amounts: dict[str, float]) -> None:
        self.amounts = amounts
        self.since = self.told = time.monotonic()
        self.next_look = self.since + 1.0  # most tasks start within a second
        self.fits = True

    def tick(self, now: float) -> None:
        if now >= self.next_look:
            self.next_look = now + LOOK_EVERY_S
            fits = self._fits_a_node()
            if self.fits and not fits:
                _note(
                    f"no node of the Ray cluster has {resources.describe(self.amounts)}: "
                    "the task waits until one joins"
                )
            self.fits = fits
        if now - self.told > STILL_WAITING_S:
            self.told = now
            _note(f"still waiting for Ray resources after {now - self.since:.0f} s")

    def _fits_a_node(self) -> bool:
        import ray

        for node in ray.nodes():  # type: ignore[no-untyped-call]
            have = node.get("Resources") or {}
            if node.get("Alive") and all(have.get(k, 0) >= v for k, v in self.amounts.items()):
                return True
        return False


def _show(event: dict[str, Any]) -> int | None:
    """Print one event of the Ray task; its exit code when it is the last."""
    if "node" in event:
        node = event["node"]
        _note(f"started on Ray node {node.get('ip')} (node id {str(node.get('id'))[:12]})")
    for stream, text in event.get("lines", ()):
        out = sys.stdout if stream == "stdout" else sys.stderr
        print(text, file=out, flush=True)
    code = event.get("exit")
    return int(code) if code is not None else None


def _exit_status(code: int) -> int:
    """The task process's exit as this process's (a signal as 128 + its number, like a shell)."""
    return 128 - code if code < 0 else code


def _settle_lost(request: dict[str, Any], why: str) -> None:
    """The rule for a lost agent, when this run still owns the task."""
    from ductwork.client import backend
    from ductwork.core import orphans
    from ductwork.core.errors import DuctworkError

    try:
        store = backend()
        task = store.get_task(request["task_id"])
        claim = request.get("claim") or {}
        if (task.worker, task.started) != (claim.get("worker"), claim.get("started")):
            return  # someone else's run by now
        if orphans.settle_lost(store, task, f"the task's {why}"):
            left = task.runtime.get("retries_left") or 0
            _note(f"failed as a lost agent's task ({left} retries were left; with any, it is queued again)")
    except DuctworkError as exc:
        _note(f"could not record the loss: {exc}")


def _note(text: str) -> None:
    print(f"ductwork ray: {text}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    os.environ.pop("DUCTWORK_PIPE", None)
    sys.exit(main(sys.argv))
