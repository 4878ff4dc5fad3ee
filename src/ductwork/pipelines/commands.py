"""`ductwork pipelines ...`: list runs, show a run's steps, watch a run live, resume a failed run.

A run is named by its id or a unique prefix of it (`client.ids.resolve`, pipeline runs only);
`--json` prints full records with the stored status values.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import click

from ductwork import terminal as out
from ductwork.completion import run_ids
from ductwork.core.display import printable, status_word
from ductwork.core.errors import DuctworkError
from ductwork.terminal import json_option

if TYPE_CHECKING:
    from rich.table import Table

    from ductwork.client.contract import Backend
    from ductwork.core.records import NodeState, TaskRecord

ENDED = ("completed", "published", "failed", "stopped")  # a run's task statuses that are final
SETTLE_EVERY_S = 10.0  # embedded store: how often `watch` settles runs whose process died


def _backend(*, look: bool = True) -> Backend:
    """The backend; `look`: this command only looks (`terminal.look_only`)."""
    from ductwork import client

    if look:
        out.look_only()
    return client.backend()


def _run_id(backend: Backend, text: str) -> str:
    from ductwork.client.ids import resolve

    return resolve(backend, text, runs=True)


@click.group()
def pipelines() -> None:
    """Pipeline runs: list, show, watch, resume (a run id or a unique prefix of one)."""


@pipelines.command("list")
@click.option("--project", default=None, help="Only runs of pipelines in this project.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1))
@json_option
def list_runs(project: str | None, limit: int, as_json: bool) -> None:
    """The newest pipeline runs."""
    from ductwork.core.queries import TaskQuery
    from ductwork.core.runformat import CONTROLLER_TYPE, PIPELINE_TAG, VERSION

    query = TaskQuery(type=[CONTROLLER_TYPE], system_tags=[PIPELINE_TAG], limit=limit, archived=None)
    if project:
        query.project_name, query.include_subprojects = project, True
    with out.errors():
        backend = _backend()
        runs = [(run, backend.get_nodes(run.id)) for run in backend.query_tasks(query)]
    if as_json:
        out.print_json([_run_json(run, nodes) for run, nodes in runs])
        return
    table = out.table(f"{len(runs)} run(s)")
    out.id_column(table, "run id")
    for column in ("name", "version", "status", "started", "steps"):
        table.add_column(column, no_wrap=column in ("status", "steps"))
    for run, nodes in runs:
        table.add_row(
            out.shown(run.id),
            out.shown(run.name),
            out.shown(run.runtime.get(VERSION, "")),
            out.status(run.status),
            out.when(run.started),
            _progress(nodes),
        )
    out.console().print(table)


def _progress(nodes: list[NodeState]) -> str:
    done = sum(node.status in ("completed", "cached") for node in nodes)
    return f"{done}/{len(nodes)}"


def _run_json(run: TaskRecord, nodes: list[NodeState]) -> dict[str, Any]:
    return {**out.jsonable(run), "steps_done": _progress(nodes), "steps": out.jsonable(nodes)}


@pipelines.command("show")
@click.argument("run_id", shell_complete=run_ids)
@json_option
def show(run_id: str, as_json: bool) -> None:
    """A run's steps: status, task, timing, cache notes."""
    with out.errors():
        backend = _backend()
        run = backend.get_task(_run_id(backend, run_id))
        nodes = backend.get_nodes(run.id)
    if as_json:
        out.print_json(_run_json(run, nodes))
        return
    console = out.console()
    console.print(_heading(run))
    console.print(_steps_table(nodes))


def _heading(run: TaskRecord) -> str:
    reason = out.shown(run.status_reason, lines=True)
    took = out.seconds(run.started, run.ended)
    return (
        f"[bold]{out.shown(run.name)}[/bold]  {out.shown(run.id)}  {out.status(run.status)}  {took}  {reason}"
    )


def _steps_table(nodes: list[NodeState]) -> Table:
    table = out.table()
    table.add_column("step")
    table.add_column("status", no_wrap=True)
    out.id_column(table, "task")
    for column in ("seconds", "attempt", "note"):
        table.add_column(column)
    for node in nodes:
        table.add_row(
            out.shown(node.name),
            out.status(node.status),
            out.shown(node.task_id or "-"),
            out.seconds(node.started, node.ended),
            str(node.attempt),
            out.shown(node.message or node.cache_note, lines=True),
        )
    return table


@pipelines.command("watch")
@click.argument("run_id", shell_complete=run_ids)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1, max=60),
    default=0.5,
    show_default=True,
    help="Seconds between looks at the run.",
)
def watch(run_id: str, interval: float) -> None:
    """Follow a run live: its steps and their statuses, until the run ends.

    Exits 0 when the run completed, 1 when it failed or was aborted. On a terminal the table
    redraws in place; piped, one line per change.
    """
    with out.errors():
        backend = _backend(look=False)
        run_id = _run_id(backend, run_id)
        if out.console().is_terminal:
            run = _watch_live(backend, run_id, interval)
        else:
            run = _watch_lines(backend, run_id, interval)
    word = status_word(run.status)
    click.echo(f"run {run.id} {word} in {out.seconds(run.started, run.ended)}")
    if run.status not in ("completed", "published"):
        raise SystemExit(1)


def _poll(backend: Backend, run_id: str, settled: list[float]) -> tuple[TaskRecord, list[NodeState]]:
    """The run and its steps now; on the embedded store, runs whose process died are settled
    now and then (a server does that itself), so a dead run does not keep `watch` waiting."""
    from ductwork.core import orphans, settings

    now = time.monotonic()
    if not settings.api_url() and now - settled[0] >= SETTLE_EVERY_S:
        settled[0] = now
        try:
            orphans.reap(backend, timeout=orphans.heartbeat_timeout(), scan_tasks=True)
        except DuctworkError:
            pass  # a read-only home still shows what it has
    return backend.get_task(run_id), backend.get_nodes(run_id)


def _watch_live(backend: Backend, run_id: str, interval: float) -> TaskRecord:
    from rich.console import Group
    from rich.live import Live

    settled = [time.monotonic()]
    run, nodes = _poll(backend, run_id, settled)
    with Live(console=out.console(), auto_refresh=False, transient=False) as live:
        while True:
            live.update(Group(_heading(run), _steps_table(nodes)), refresh=True)
            if run.status in ENDED:
                return run
            time.sleep(interval)
            run, nodes = _poll(backend, run_id, settled)


def _watch_lines(backend: Backend, run_id: str, interval: float) -> TaskRecord:
    settled = [time.monotonic()]
    seen: dict[str, str] = {}
    while True:
        run, nodes = _poll(backend, run_id, settled)
        for name, state in [("(run)", run.status), *((node.name, node.status) for node in nodes)]:
            if seen.get(name) != state:
                seen[name] = state
                click.echo(f"{time.strftime('%H:%M:%S')}  {printable(name)}: {status_word(state)}")
        if run.status in ENDED:
            return run
        time.sleep(interval)


@pipelines.command("resume")
@click.argument("run_id", shell_complete=run_ids)
@click.option("--on-agents", is_flag=True, help="Send the steps to their queues instead of local processes.")
def resume(run_id: str, on_agents: bool) -> None:
    """Run a failed or aborted run again from its failed steps, reusing every completed step."""
    from ductwork.pipelines.controller import PipelineController

    with out.errors():
        run_id = _run_id(_backend(look=False), run_id)
        pipe = PipelineController.resume(run_id, run_pipeline_steps_locally=not on_agents)
    ok = pipe.is_successful()
    click.echo(f"run {printable(run_id)} {'completed' if ok else 'failed again'}")
    if not ok:
        raise SystemExit(1)
