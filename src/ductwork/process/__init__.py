"""Child processes, for local pipeline steps and agents alike; stands on the stdlib only.

* `spawn(argv, cwd=, env=)` -> `Spawned`: a fresh process in a session of its own.
* `WarmPool(module, preload)`: a fork server that imported `preload` once; `fork(env, cwd,
  paths)` -> `Forked`, a child that runs `module` as `__main__` (None: start it fresh instead).
* `Output(child, deliver)`: the child's stdout/stderr, handed over as lines.
* `kill_tree(child)`: SIGTERM its process group, SIGKILL what is left after a grace period.
* `supervise(child, limit=, check=)`: wait for the end, a time limit, or a stop from outside.
"""

from ductwork.process.child import Child, Spawned, spawn
from ductwork.process.console import Output, pump
from ductwork.process.supervise import Ending, supervise
from ductwork.process.tree import TERM_GRACE_S, kill_tree, kill_tree_later
from ductwork.process.warm import Forked, WarmPool

__all__ = [
    "TERM_GRACE_S",
    "Child",
    "Ending",
    "Forked",
    "Output",
    "Spawned",
    "WarmPool",
    "kill_tree",
    "kill_tree_later",
    "pump",
    "spawn",
    "supervise",
]
