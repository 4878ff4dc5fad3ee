"""The warm pool of local mode's step processes: a fork server started early, with the installed
packages the pipeline's script imports preloaded into it, so a step's process starts in
milliseconds instead of paying the interpreter's and its imports' start again."""

from __future__ import annotations

import atexit
import os
import sys
import threading

from ductwork.core import syntax
from ductwork.core.warmstart import RUNNER, RUNNER_IMPORTS
from ductwork.process import WarmPool

_early: WarmPool | None = None  # started by `warm_up`, taken by the next ProcessExecutor
_early_lock = threading.Lock()


def warm_up() -> None:
    """Local mode is coming (`PipelineDecorator.run_locally()`): start its fork server now, so
    the imports every step needs happen while this process is still importing and setting up
    the run, not while the first step waits. The next `ProcessExecutor` takes it over."""
    global _early
    if os.environ.get("DUCTWORK_LOCAL_SPAWN", "fork") == "fresh":
        return
    with _early_lock:
        if _early is None:
            _early = _new_pool()
    atexit.unregister(_close_early)  # registered once
    atexit.register(_close_early)


def take_pool() -> WarmPool | None:
    """The fork server for a new run's steps: the one `warm_up` started, else a new one, started
    now so its imports overlap with the run's setup (None: `DUCTWORK_LOCAL_SPAWN=fresh`)."""
    global _early
    if os.environ.get("DUCTWORK_LOCAL_SPAWN", "fork") == "fresh":
        return None
    with _early_lock:
        pool, _early = _early, None
    return pool if pool is not None else _new_pool()


def _new_pool() -> WarmPool:
    """A fork server, started now; the installed packages the pipeline's script imports (its
    steps' functions usually live there: numpy, pandas...) are preloaded into it in the
    background, before any step asks, so a step's first fork does not wait for them."""
    pool = WarmPool(RUNNER, RUNNER_IMPORTS)
    pool.start()
    main = getattr(sys.modules.get("__main__"), "__file__", None)
    if _is_user_script(main) and os.environ.get("DUCTWORK_PRELOAD", "1") != "0":
        threading.Thread(
            target=_preload_script, args=(pool, main), name="ductwork-preload", daemon=True
        ).start()
    return pool


def _is_user_script(path: str | None) -> bool:
    """A script of the user's (not an installed program's entry point: pytest, a CLI)."""
    return bool(path) and str(path).endswith(".py") and not _installed(str(path))


def _installed(origin: str) -> bool:
    return "site-packages" in origin or "dist-packages" in origin


def _preload_script(pool: WarmPool, path: str) -> None:
    """Only ever an optimisation: whatever goes wrong, the steps import what they need."""
    try:
        with open(path, encoding="utf-8") as handle:
            wanted = installed_imports(handle.read())
    except Exception:  # unreadable, not Python (null bytes), too deep to parse...
        return
    if wanted:
        pool.preload(wanted)


def _close_early() -> None:
    """At exit, a fork server `warm_up` started that no run took (its folder goes too)."""
    with _early_lock:
        pool = _early
    if pool is not None:
        pool.close()


def installed_imports(source: str) -> list[str]:
    """Top-level modules `source` imports that are installed packages (not the user's files,
    not ductwork, not the standard library, which is cheap or already loaded)."""
    import ast
    import importlib.util

    try:
        tree = syntax.parse(source)
    except SyntaxError:
        return []
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.append(node.module.split(".")[0])
    found = []
    for name in dict.fromkeys(names):
        if name in ("ductwork", "__future__") or name in sys.builtin_module_names:
            continue
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        if spec is not None and _installed(spec.origin or ""):
            found.append(name)
    return found
