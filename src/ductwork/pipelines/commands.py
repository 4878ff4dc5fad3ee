"""`ductwork pipelines ...`: list runs, show a run's steps, resume a failed run."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from ductwork.core.display import mask_secrets, printable
from ductwork.core.errors import DuctworkError


def _shown(text: object, *, lines: bool = False) -> str:
    """Stored text for a rich table: control and bidi characters as escapes, markup inert."""
    from rich.markup import escape

    return escape(printable(text, lines=lines))


def _console() -> Any:
    from rich.console import Console

    console = Console(emoji=False)
    if not console.is_terminal:  # piped or captured: do not squeeze tables into 80 columns
        console.width = max(console.width, 200)
    return console


@contextmanager
def _errors() -> Iterator[None]:
    """Our errors as one line and exit code 1, never a traceback (nor a password)."""
    try:
        yield
    except DuctworkError as exc:
        raise click.ClickException(printable(mask_secrets(exc))) from exc


@click.group()
def pipelines() -> None:
    """Pipeline runs: list, show, resume."""


@pipelines.command("list")
@click.option("--project", default=None, help="Only runs of pipelines in this project.")
@click.option("--limit", default=50, show_default=True)
def list_runs(project: str | None, limit: int) -> None:
    """The newest pipeline runs."""
    from rich.table import Table

    from ductwork import client
    from ductwork.core.queries import TaskQuery
    from ductwork.core.runformat import CONTROLLER_TYPE, PIPELINE_TAG, VERSION

    query = TaskQuery(type=[CONTROLLER_TYPE], system_tags=[PIPELINE_TAG], limit=limit, archived=None)
    if project:
        query.project_name, query.include_subprojects = project, True
    table = Table("run id", "name", "version", "status", "started", "steps")
    with _errors():
        backend = client.backend()
        for run in backend.query_tasks(query):
            nodes = backend.get_nodes(run.id)
            done = sum(n.status in ("completed", "cached") for n in nodes)
            started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.started)) if run.started else "-"
            table.add_row(
                _shown(run.id),
                _shown(run.name),
                _shown(run.runtime.get(VERSION, "")),
                _shown(run.status),
                started,
                f"{done}/{len(nodes)}",
            )
    _console().print(table)


@pipelines.command("show")
@click.argument("run_id")
def show(run_id: str) -> None:
    """A run's steps: status, task, timing, cache notes."""
    from rich.table import Table

    from ductwork import client

    with _errors():
        backend = client.backend()
        run = backend.get_task(run_id)
        nodes = backend.get_nodes(run_id)
    console = _console()
    reason = _shown(run.status_reason, lines=True)
    console.print(f"[bold]{_shown(run.name)}[/bold]  {_shown(run.status)}  {reason}")
    table = Table("step", "status", "task", "seconds", "attempt", "note")
    for node in nodes:
        seconds = f"{node.ended - node.started:.2f}" if node.started and node.ended else "-"
        table.add_row(
            _shown(node.name),
            _shown(node.status),
            _shown(node.task_id or "-"),
            seconds,
            str(node.attempt),
            _shown(node.message or node.cache_note, lines=True),
        )
    console.print(table)


@pipelines.command("resume")
@click.argument("run_id")
@click.option("--on-agents", is_flag=True, help="Send the steps to their queues instead of local processes.")
def resume(run_id: str, on_agents: bool) -> None:
    """Run a failed or aborted run again from its failed steps, reusing every completed step."""
    from ductwork.pipelines.controller import PipelineController

    try:
        pipe = PipelineController.resume(run_id, run_pipeline_steps_locally=not on_agents)
    except DuctworkError as exc:
        raise click.ClickException(printable(mask_secrets(exc))) from None
    ok = pipe.is_successful()
    click.echo(f"run {printable(run_id)} {'completed' if ok else 'failed again'}")
    if not ok:
        raise SystemExit(1)
