"""`python -m ductwork.process.forkserver ADDRESS MODULE [PRELOAD ...]`: the warm server that
`process.warm.WarmPool` starts; it forks one fresh child per request, each running MODULE.

It imports the PRELOAD modules once, then serves on the AF_UNIX socket ADDRESS. Being a clean
interpreter (no threads, no connections), every child starts from the state a fresh
`python -m MODULE` would reach after importing them. Each request arrives on its own connection
with the child's stdout/stderr pipe ends attached (SCM_RIGHTS).

Protocol, one JSON line each way: request `{"env": {...}, "cwd": str | null, "paths": [...]}`,
replies `{"pid": n}` then, when the child ends, `{"exit": code}`. A request may also say what the
child runs instead of MODULE, as the words after the interpreter: `"argv": ["-m", "mod", ...]` or
`"argv": ["script.py", ...]` (a script task forked as `python script.py ...` would have run it). A request
`{"preload": [module, ...]}` (no pipes) imports more modules, once, for the coming children
(numpy, pandas, torch: tens of milliseconds to seconds each); the reply is `{"loaded": [...]}`.
"""

from __future__ import annotations

import builtins
import ctypes
import functools
import gc
import importlib
import importlib.machinery
import io
import json
import os
import selectors
import signal
import socket
import sys
import types
from collections.abc import Callable
from typing import TypedDict

# What every child uses and would otherwise import itself, each time: runpy.run_path imports
# pkgutil (~2 ms of a tiny script's child), and the child's end joins threads.
ALWAYS = ("pkgutil", "threading")


class Request(TypedDict):
    """What a child is to be: its whole environment, its folder, what goes first on sys.path."""

    env: dict[str, str]
    cwd: str | None
    paths: list[str]


class Command(Request, total=False):
    """A request that names what the child runs (after the interpreter); else the server's module."""

    argv: list[str]


def serve(address: str, module: str, preload: list[str]) -> None:
    _preload([*ALWAYS, *preload])  # now, once, so every child inherits it
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
    while os.getppid() == parent:  # whoever started us is gone: so are we
        for key, _ in selector.select(timeout=1.0):
            if key.data == "accept":
                conn, _ = listener.accept()
                others = [listener.fileno(), wake_read, wake_write, *(c.fileno() for c in waiting.values())]
                pid = _answer(conn, module, others)
                if pid:
                    waiting[pid] = conn
                else:
                    conn.close()
            else:
                os.read(wake_read, 4096)
                _reap(waiting)
    _remove_socket(address)


def _remove_socket(address: str) -> None:
    """Whoever started us is gone without closing us (killed: `WarmPool.close` removes the
    folder itself), so its socket folder goes with us, if nothing else is in it."""
    try:
        os.unlink(address)
        os.rmdir(os.path.dirname(address))
    except OSError:
        pass


def _answer(conn: socket.socket, module: str, inherited: list[int]) -> int:
    """Serve one request; the forked child's pid, or 0 when none was forked. `inherited`: the
    server's own descriptors, which the child closes (a sibling's connection kept open by a
    child would hide the server's death from that sibling's parent)."""
    message, fds, _, _ = socket.recv_fds(conn, 1 << 20, 2)
    request = json.loads(message or b"{}")
    if "preload" in request:
        conn.sendall(json.dumps({"loaded": _preload(request["preload"])}).encode() + b"\n")
        return 0
    if len(fds) != 2 or "env" not in request:
        for fd in fds:
            os.close(fd)
        return 0
    pid = _fork(module, request, fds, [*inherited, conn.fileno()])
    conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
    return pid


def _fork(module: str, request: Command, pipes: list[int], inherited: list[int]) -> int:
    """Fork the child; its pid once it leads a session of its own, so that whoever kills its
    process group right after hearing the pid finds the group (and not just the child)."""
    server = os.getpid()
    session_read, session_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        for fd in [*inherited, session_read]:
            os.close(fd)
        _child(module, request, pipes, server, session_write)
    for fd in [*pipes, session_write]:
        os.close(fd)
    os.read(session_read, 1)  # EOF: the child closed its end after setsid (or died)
    os.close(session_read)
    return pid


def _child(module: str, request: Command, pipes: list[int], server: int, session: int) -> None:
    """Become the requested child: run `module` (or the request's `argv`) as `__main__`, exit
    with its exit code."""
    code = 1
    try:
        os.setsid()  # its own process group, so killing the group takes its children too
        os.close(session)
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _die_with_parent(server)  # a killed server (its agent or controller gone) takes its children
        os.dup2(pipes[0], 1)
        os.dup2(pipes[1], 2)
        os.close(pipes[0])
        os.close(pipes[1])
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        _set_environ(request["env"])
        cwd = request.get("cwd")
        if cwd:
            os.chdir(cwd)
        argv = request.get("argv") or ["-m", module]
        _main_path(argv)
        sys.path[:0] = [p for p in request.get("paths", []) if p not in sys.path]
        code = _run(argv[1], argv[2:]) if argv[0] == "-m" else _run_path(argv[0], argv[1:])
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        try:
            _end_as_python_does()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _set_environ(env: dict[str, str]) -> None:
    """The child's whole environment: only what differs from the server's is changed (a task's
    environment is mostly its agent's, which started the server: ~0.1 ms less a child)."""
    current = os.environ
    for name in [name for name in current if name not in env]:
        del current[name]
    for name, value in env.items():
        if current.get(name) != value:
            current[name] = value


def _end_as_python_does() -> None:
    """What a fresh interpreter does at its end and `os._exit` skips: wait for the threads that
    are not daemons, then run the atexit handlers (a script's Task closes at exit, after its
    background uploads; skipping either loses artifacts without a word)."""
    import atexit
    import threading

    try:
        shutdown = getattr(threading, "_shutdown", None)
        if shutdown is not None:
            shutdown()
    except BaseException:
        import traceback

        traceback.print_exc()
    atexit._run_exitfuncs()  # prints a failing handler's traceback itself, as Python does


def _main_path(argv: list[str]) -> None:
    """sys.path[0] as `python ARGV` sets it: the current folder for `-m`, else the script's own
    folder (the server's entry was its own start folder; none under PYTHONSAFEPATH)."""
    if getattr(sys.flags, "safe_path", False) or not sys.path:
        return
    sys.path[0] = os.getcwd() if argv[0] == "-m" else os.path.dirname(os.path.abspath(argv[0]))


def _run(module: str, args: list[str] | None = None) -> int:
    """`python -m module args`'s exit code: 0 when it returns, SystemExit's code as Python maps it."""
    import runpy

    sys.argv = [module, *(args or [])]  # run_module puts the module's file in argv[0]
    return _exit_code(lambda: runpy.run_module(module, run_name="__main__", alter_sys=True))


def _run_path(script: str, args: list[str]) -> int:
    """`python script args`'s exit code."""
    sys.argv = [script, *args]
    source = _plain_script(script)
    if source is None:  # a folder or a zip application: runpy's rules, as python's
        import runpy

        return _exit_code(lambda: runpy.run_path(script, run_name="__main__"))
    return _exit_code(lambda: _exec_main(os.path.abspath(script), source))


def _plain_script(script: str) -> bytes | None:
    """The source of a script file that is not a zip application (None: let runpy decide)."""
    try:
        with io.open_code(script) as handle:
            source = handle.read()
    except OSError:
        return None
    return None if b"PK\x05\x06" in source else source


def _exec_main(path: str, source: bytes) -> None:
    """Run `source` as the `__main__` module, as `python path` does (and runpy.run_path, less
    its search for an importer: ~0.4 ms of a tiny script's child); the module stays
    `__main__` through the child's end, so its atexit handlers still find its classes."""
    code = compile(source, path, "exec", dont_inherit=True)
    main = types.ModuleType("__main__")
    loader = importlib.machinery.SourceFileLoader("__main__", path)
    main.__dict__.update(
        __file__=path,
        __cached__=None,
        __loader__=loader,
        __package__=None,
        __spec__=None,
        __builtins__=builtins,
    )
    sys.modules["__main__"] = main
    exec(code, main.__dict__)


def _exit_code(run: Callable[[], object]) -> int:
    try:
        run()
    except SystemExit as stop:
        if stop.code is None or isinstance(stop.code, int):
            return stop.code or 0
        print(stop.code, file=sys.stderr)
        return 1
    except BaseException as exc:  # what a fresh interpreter prints: the traceback from the code on
        import runpy
        import traceback

        ours = (__file__, runpy.__file__, "<frozen runpy>")
        tb = exc.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename in ours:
            tb = tb.tb_next
        traceback.print_exception(type(exc), exc, tb)
        return 1
    return 0


def _die_with_parent(server: int) -> None:
    """Linux: SIGKILL this process when its parent (the single-threaded server) dies, and now
    if it died before we asked."""
    if not sys.platform.startswith("linux"):
        return
    prctl = _prctl()
    if prctl is None:
        return
    prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != server:
        os.kill(os.getpid(), signal.SIGKILL)


@functools.cache
def _prctl() -> Callable[..., int] | None:
    """libc's prctl, looked up once by the server (not in every child)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


def _preload(modules: list[str]) -> list[str]:
    """Import what we can of `modules`; a module that fails here just loads in the child."""
    loaded = []
    for name in modules:
        try:
            importlib.import_module(name)
            loaded.append(name)
        except BaseException:  # an import error is the child's to report, not ours
            continue
    _prctl()
    # What the server holds stays out of the children's garbage collections: a collection
    # would touch (and so copy) every page of it.
    gc.freeze()
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
    serve(sys.argv[1], sys.argv[2], sys.argv[3:])
