"""ductwork.terminal.progress (issue 16): a spinner on stderr while long work runs, only when a
person watches (stderr is a terminal), and never a byte on stdout, so `$(ductwork ...)` keeps
its answer. Run in a child process whose stderr is a pseudo-terminal."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import textwrap
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

CHILD = textwrap.dedent(
    """
    import click
    from ductwork import terminal
    terminal.REVEAL_AFTER_S = 0.0  # show at once (the real threshold is a second)
    with terminal.progress("fetching weights") as advance:
        advance(1)  # visible from here; the bar's last refresh on leaving draws it
        click.echo("/the/answer")
    print("done", flush=True)
    """
)


def _run(code: str, *, tty: bool) -> tuple[str, str]:
    env = {**os.environ, "PYTHONPATH": str(SRC), "TERM": "xterm"}
    env.pop("TTY_COMPATIBLE", None)
    if not tty:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
        )
        return done.stdout, done.stderr
    controller, child_end = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=child_end, env=env, text=True
    )
    os.close(child_end)
    drawn = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        drawn += chunk
    stdout, _ = process.communicate(timeout=60)
    os.close(controller)
    return stdout, drawn.decode(errors="replace")


def test_progress_draws_on_a_terminal_and_leaves_stdout_alone() -> None:
    stdout, stderr = _run(CHILD, tty=True)
    assert stdout.splitlines() == ["/the/answer", "done"]
    assert "fetching weights" in stderr


def test_progress_is_silent_when_nobody_watches() -> None:
    stdout, stderr = _run(CHILD, tty=False)
    assert stdout.splitlines() == ["/the/answer", "done"]
    assert stderr == ""
