"""A warm process that forks one fresh child per local-mode step.

Starting an interpreter and importing the step runner costs ~70 ms a step; forking a process
that already did costs ~2 ms. The server is started once per run as a clean interpreter (no
threads, no store connection), so every child starts from the same state a fresh
`python -m ductwork.sdk.runner` would reach. Each request arrives on its own connection with the
child's stdout/stderr pipe ends attached (SCM_RIGHTS); the reply is the child's pid, then, when it
ends, its exit code.

Protocol, one JSON line each way: request `{"env": {...}, "cwd": str | null, "paths": [...]}`,
replies `{"pid": n}` then `{"exit": code}`. A request `{"preload": [module, ...]}` (no pipes)
imports installed packages the coming steps use, once, so each step does not pay for them
(numpy, pandas, torch: tens of milliseconds to seconds each); the reply is `{"loaded": [...]}`.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import sys
from typing import Any


def serve(address: str) -> None:
    # Import what every step needs now, once, so children inherit it.
    import ductwork.artifacts.store
    import ductwork.client.pipe
    import ductwork.pipelines.runner
    import ductwork.sdk.task  # noqa: F401

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(128)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "accept")
    selector.register(wake_read, selectors.EVENT_READ, "child")
    waiting: dict[int, socket.socket] = {}
    parent = os.getppid()
    print("ready", flush=True)
    while os.getppid() == parent:  # the controller is gone: so are we
        for key, _ in selector.select(timeout=1.0):
            if key.data == "accept":
                conn, _ = listener.accept()
                pid = _spawn(conn, listener, wake_read, wake_write)
                if pid:
                    waiting[pid] = conn
                else:
                    conn.close()
            else:
                os.read(wake_read, 4096)
                _reap(waiting)


def _spawn(conn: socket.socket, listener: socket.socket, *inherited: int) -> int:
    message, fds, _, _ = socket.recv_fds(conn, 1 << 20, 2)
    request = json.loads(message) if message else {}
    if "preload" in request:
        conn.sendall(json.dumps({"loaded": _preload(request["preload"])}).encode() + b"\n")
        return 0
    if len(fds) != 2:
        for fd in fds:
            os.close(fd)
        return 0
    pid = os.fork()
    if pid == 0:
        listener.close()
        for fd in inherited:
            os.close(fd)
        _child(request, fds[0], fds[1])
    for fd in fds:
        os.close(fd)
    conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
    return pid


def _child(request: dict[str, Any], out: int, err: int) -> None:
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _die_with_parent()  # a killed server (its agent or controller gone) takes its steps along
        os.setsid()  # its own process group, so an abort takes its children too
        os.dup2(out, 1)
        os.dup2(err, 2)
        os.close(out)
        os.close(err)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.environ.clear()
        os.environ.update(request["env"])
        if request.get("cwd"):
            os.chdir(request["cwd"])
        sys.path[:0] = [p for p in request.get("paths", []) if p not in sys.path]
        sys.argv = ["ductwork.sdk.runner"]
        from ductwork.pipelines import runner

        code = runner.main()
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when its parent (the single-threaded server) dies."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _preload(modules: list[str]) -> list[str]:
    """Import what we can of `modules`; a module that fails here just loads in the step."""
    import importlib

    loaded = []
    for name in modules:
        try:
            importlib.import_module(name)
            loaded.append(name)
        except BaseException:  # an import error is the step's to report, not ours
            continue
    return loaded


def _reap(waiting: dict[int, socket.socket]) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        conn = waiting.pop(pid, None)
        if conn is not None:
            try:
                conn.sendall(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
            except OSError:
                pass
            conn.close()


if __name__ == "__main__":
    serve(sys.argv[1])
