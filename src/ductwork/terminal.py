"""What every `ductwork` command prints with: tables, ids, status words, JSON, progress, errors.

Shared by cli.py and the parts' commands.py modules (it imports only click and core; rich when
something is printed), so every command behaves alike:

* ids are printed whole: an id column never wraps nor ends in "…", on any terminal width, and
  piped output is never squeezed into 80 columns;
* `--json` (`json_option`) prints the full records, with the stored status values;
* statuses read as the web UI says them (`core.display.STATUS_WORDS`);
* work that may take more than a second shows a spinner or a bar on a terminal (`progress`),
  on stderr, and nothing when piped;
* our errors are one message and exit code 1, never a traceback (`errors`).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ductwork.core.display import mask_secrets, printable, status_word

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

F = TypeVar("F", bound=Callable[..., Any])

ID_WIDTH = 32  # a task id: uuid4 hex
REVEAL_AFTER_S = 1.0  # progress shows only for work that takes longer than this
LOOK_RETRY_WINDOW_S = "10"  # a command that only looks gives up on an unreachable server after this

STATUS_STYLE = {
    "draft": "dim",
    "pending": "cyan",
    "queued": "cyan",
    "running": "blue",
    "completed": "green",
    "cached": "green",
    "failed": "red",
    "aborted": "yellow",
    "skipped": "dim",
}


def json_option(function: F) -> F:
    """`--json`: the command prints JSON (full ids, stored values) instead of a table."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON (full records) instead.")(
        function
    )


def jsonable(value: Any) -> Any:
    """Records (dataclasses) as dicts, enums as their values, anything else JSON can carry."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def print_json(value: Any) -> None:
    """`value` as indented JSON on stdout (ids whole, statuses as stored)."""
    click.echo(json.dumps(jsonable(value), indent=2, ensure_ascii=False))


def console(*, stderr: bool = False) -> Console:
    """A rich console: stored text is never read as emoji codes or highlighted; piped output
    is as wide as the rows need (200 columns or more), not the 80 of an unknown terminal."""
    from rich.console import Console

    out = Console(highlight=False, soft_wrap=False, emoji=False, stderr=stderr)
    if not out.is_terminal:
        out.width = max(out.width, 200)
    return out


def table(title: str | None = None) -> Table:
    from rich.table import Table

    return Table(title=title, title_justify="left", header_style="bold")


def id_column(grid: Table, header: str = "id") -> None:
    """A column for ids: never wrapped nor cut, whatever the terminal's width."""
    grid.add_column(header, no_wrap=True, min_width=ID_WIDTH, overflow="fold")


def shown(text: object, *, lines: bool = False) -> str:
    """Stored text made inert for rich: control, bidi and escape characters shown as escapes
    (`printable`; with `lines`, newlines and tabs kept), `[markup]` shown as written."""
    from rich.markup import escape

    return escape(printable(text, lines=lines))


def status(value: str) -> str:
    """A task's or node's status as its word (core.display), coloured on a terminal."""
    word = status_word(value)
    style = STATUS_STYLE.get(word)
    return f"[{style}]{word}[/]" if style else shown(word)


def when(timestamp: float | None) -> str:
    if not timestamp:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def seconds(started: float | None, ended: float | None) -> str:
    """A duration as people read it: 0.42s, 12.3s, 4m05s, 2h10m (to now while running)."""
    if not started:
        return "-"
    value = (ended or time.time()) - started
    if value < 60:
        return f"{value:.2f}s" if value < 10 else f"{value:.1f}s"
    minutes, secs = divmod(int(value), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


@contextmanager
def errors() -> Iterator[None]:
    """Our errors become a message and exit code 1, never a traceback (nor a password)."""
    from ductwork.core.errors import DuctworkError

    try:
        yield
    except DuctworkError as exc:
        # a list of candidates (an ambiguous id) keeps its lines; anything else is one line
        lines = bool(getattr(exc, "candidates", None))
        raise click.ClickException(printable(mask_secrets(exc), lines=lines)) from exc


def look_only() -> None:
    """This command only reads or makes one change for a person waiting at a prompt: an
    unreachable server (a wrong DUCTWORK_API_URL) fails it in seconds, not after the
    five-minute window agents and runs ride out a server restart with, unless
    DUCTWORK_RETRY_WINDOW says otherwise."""
    import os

    os.environ.setdefault("DUCTWORK_RETRY_WINDOW", LOOK_RETRY_WINDOW_S)


def interactive() -> bool:
    """Whether a person watches stderr (progress is drawn there, never into piped output)."""
    return sys.stderr.isatty()


@contextmanager
def progress(description: str, total: float | None = None) -> Iterator[Callable[[float], None]]:
    """A spinner (or, with `total`, a bar) on stderr while the block runs, on a terminal only;
    it appears after a second, so quick work prints nothing. Yields `advance(amount)`."""
    if not interactive():
        yield lambda amount: None
        return
    bar = _progress(total is not None)
    task = bar.add_task(shown(description), total=total, start=True, visible=False)
    shown_at = time.monotonic() + REVEAL_AFTER_S

    def advance(amount: float) -> None:
        bar.update(task, advance=amount, visible=time.monotonic() >= shown_at)

    with bar:
        timer = _Reveal(bar, task, shown_at)
        timer.start()
        try:
            yield advance
        finally:
            timer.done()


def _progress(with_bar: bool) -> Progress:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}")]
    if with_bar:
        columns += [BarColumn(), DownloadColumn()]
    columns.append(TimeElapsedColumn())
    # stdout is left alone: `path=$(ductwork artifacts get ...)` keeps its answer on stdout
    return Progress(
        *columns, console=console(stderr=True), transient=True, redirect_stdout=False, redirect_stderr=False
    )


class _Reveal:
    """Makes a progress line visible once its first second has passed."""

    def __init__(self, bar: Progress, task: Any, at: float) -> None:
        import threading

        self._bar, self._task, self._at = bar, task, at
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ductwork-progress", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        if not self._stop.wait(max(0.0, self._at - time.monotonic())):
            self._bar.update(self._task, visible=True)

    def done(self) -> None:
        self._stop.set()
        self._thread.join()
