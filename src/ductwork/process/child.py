"""A child process started fresh: its own session, stdin closed, stdout and stderr on pipes.

The new session makes it the leader of its own process group, so killing the group takes its
children with it (a controller's local steps, a shell's pipeline), and a Ctrl-C at the parent's
terminal does not reach it: the parent decides how each child ends.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Protocol


class Child(Protocol):
    """What a supervisor needs of a child, fresh (`Spawned`) or forked warm (`Forked`)."""

    @property
    def pid(self) -> int: ...  # also its process group's id

    @property
    def started(self) -> float: ...  # time.monotonic() at its start

    @property
    def stdout(self) -> IO[bytes]: ...

    @property
    def stderr(self) -> IO[bytes]: ...

    def poll(self, timeout: float) -> int | None:
        """The exit code, waiting at most `timeout` seconds; None while it runs."""
        ...

    def wait(self) -> int:
        """The exit code, once it has ended (negative: the signal that ended it)."""
        ...


class Spawned:
    """A child started as a new interpreter or any other program (`spawn`)."""

    def __init__(self, popen: subprocess.Popen[bytes]) -> None:
        assert popen.stdout is not None and popen.stderr is not None
        self._popen = popen
        self.stdout: IO[bytes] = popen.stdout
        self.stderr: IO[bytes] = popen.stderr
        self.started = time.monotonic()

    @property
    def pid(self) -> int:
        return self._popen.pid

    def poll(self, timeout: float) -> int | None:
        try:
            return self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def wait(self) -> int:
        return self._popen.wait()


def spawn(
    argv: Sequence[str],
    *,
    cwd: str | Path | None,
    env: dict[str, str],
    die_with_parent: bool = False,
) -> Spawned:
    """Start `argv` in a session of its own. `die_with_parent`: SIGKILL it when this process
    dies (Linux, where `setpriv` is installed), so a killed agent does not leave its task
    running while the task is handed to another agent."""
    prefix = _dies_with_parent() if die_with_parent else ()
    popen = subprocess.Popen(
        [*prefix, *argv],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    return Spawned(popen)


@functools.cache
def _dies_with_parent() -> tuple[str, ...]:
    """A prefix that makes the child die with its parent (`setpriv --pdeathsig KILL`); where
    `setpriv` is missing the child outlives its parent."""
    setpriv = shutil.which("setpriv")
    if setpriv is None or not sys.platform.startswith("linux"):
        return ()
    return (setpriv, "--pdeathsig", "KILL", "--")
