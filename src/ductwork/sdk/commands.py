"""`ductwork pipelines ...`: list runs, show a run's steps, resume a failed run."""

from __future__ import annotations

import time

import click


@click.group()
def pipelines() -> None:
    """Pipeline runs: list, show, resume."""


@pipelines.command("list")
@click.option("--project", default=None, help="Only runs of pipelines in this project.")
@click.option("--limit", default=50, show_default=True)
def list_runs(project: str | None, limit: int) -> None:
    """The newest pipeline runs."""
    from rich.console import Console
    from rich.table import Table

    from ductwork import client
    from ductwork.core.queries import TaskQuery

    backend = client.backend()
    query = TaskQuery(type=["controller"], system_tags=["pipeline"], limit=limit, archived=None)
    if project:
        query.project_name, query.include_subprojects = project, True
    table = Table("run id", "name", "version", "status", "started", "steps")
    for run in backend.query_tasks(query):
        nodes = backend.get_nodes(run.id)
        done = sum(n.status in ("completed", "cached") for n in nodes)
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.started)) if run.started else "-"
        table.add_row(
            run.id, run.name, str(run.runtime.get("version", "")), run.status, started, f"{done}/{len(nodes)}"
        )
    Console().print(table)


@pipelines.command("show")
@click.argument("run_id")
def show(run_id: str) -> None:
    """A run's steps: status, task, timing, cache notes."""
    from rich.console import Console
    from rich.table import Table

    from ductwork import client

    backend = client.backend()
    run = backend.get_task(run_id)
    console = Console()
    console.print(f"[bold]{run.name}[/bold]  {run.status}  {run.status_reason}")
    table = Table("step", "status", "task", "seconds", "attempt", "note")
    for node in backend.get_nodes(run_id):
        seconds = f"{node.ended - node.started:.2f}" if node.started and node.ended else "-"
        table.add_row(
            node.name,
            node.status,
            node.task_id or "-",
            seconds,
            str(node.attempt),
            node.message or node.cache_note,
        )
    console.print(table)


@pipelines.command("resume")
@click.argument("run_id")
@click.option("--on-agents", is_flag=True, help="Send the steps to their queues instead of local processes.")
def resume(run_id: str, on_agents: bool) -> None:
    """Run a failed or aborted run again from its failed steps, reusing every completed step."""
    from ductwork.core.errors import DuctworkError
    from ductwork.sdk.controller import PipelineController

    try:
        pipe = PipelineController.resume(run_id, run_pipeline_steps_locally=not on_agents)
    except DuctworkError as exc:
        raise click.ClickException(str(exc)) from None
    ok = pipe.is_successful()
    click.echo(f"run {run_id} {'completed' if ok else 'failed again'}")
    if not ok:
        raise SystemExit(1)
