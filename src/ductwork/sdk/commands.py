"""`ductwork tasks list|show` and `ductwork artifacts get`: tasks as the Task API stores them.

A task is named by its id or a unique prefix of it (`client.ids.resolve`); `--json` prints the
full records. Registered by cli.py (`main.add_command`); `ductwork tasks abort` joins the group
from agent/commands.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from ductwork import terminal as out
from ductwork.completion import task_ids
from ductwork.core.display import STATUSES_OF_WORD, printable
from ductwork.terminal import json_option

if TYPE_CHECKING:
    from rich.table import Table

    from ductwork.client.contract import Backend
    from ductwork.core.records import (
        ArtifactRecord,
        ConfigObject,
        ConsoleLine,
        ModelRecord,
        Param,
        TaskModel,
        TaskRecord,
    )


def _backend() -> Backend:
    from ductwork import client

    out.look_only()
    return client.backend()


def _task_id(backend: Backend, text: str) -> str:
    """The full id of the task whose id is, or starts with, `text`."""
    from ductwork.client.ids import resolve

    return resolve(backend, text)


def _settle_dead(backend: Backend) -> None:
    """Embedded mode has no watchdog: tasks whose process died are settled by whoever looks,
    so a list never shows a dead attempt as running (a server does this itself)."""
    from ductwork.core import orphans, settings
    from ductwork.core.errors import DuctworkError

    if settings.api_url():
        return
    try:
        orphans.reap(backend, timeout=orphans.heartbeat_timeout(), scan_tasks=True)
    except DuctworkError:
        pass  # a read-only home still lists what it has


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


# ---------------------------------------------------------------------- tasks


@click.group()
def tasks() -> None:
    """List and inspect tasks (an id or a unique prefix of one)."""


def _statuses(given: Sequence[str]) -> list[str] | None:
    """`--status` values as stored: a stored status or the word a list shows (`running`)."""
    from ductwork.core.states import TaskStatus

    known = [s.value for s in TaskStatus]
    found: list[str] = []
    for value in given:
        if value in known:
            found.append(value)
        elif value in STATUSES_OF_WORD:
            found.extend(STATUSES_OF_WORD[value])
        else:
            choices = ", ".join(sorted({*STATUSES_OF_WORD, *known}))
            raise click.BadParameter(f"{value!r} is not one of {choices}", param_hint="--status")
    return found or None


@tasks.command("list")
@click.option("--project", "-p", help="Project name (its subprojects too).")
@click.option("--status", "-s", multiple=True, help="Only tasks with this status (repeatable).")
@click.option("--name", help="Only tasks whose name matches this regular expression.")
@click.option("--limit", "-n", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--archived", is_flag=True, help="Include archived tasks.")
@json_option
def tasks_list(
    project: str | None, status: Sequence[str], name: str | None, limit: int, archived: bool, as_json: bool
) -> None:
    """The newest tasks, newest first."""
    from ductwork.core.queries import TaskQuery

    statuses = _statuses(status)
    with out.errors():
        backend = _backend()
        _settle_dead(backend)
        query = TaskQuery(
            project_name=project,
            include_subprojects=True,
            status=statuses,
            name_pattern=name,
            archived=None if archived else False,
            limit=limit,
        )
        if project is not None and backend.find_project(project) is None:
            raise click.ClickException(f"project {project!r} not found")
        records = backend.query_tasks(query)
        total = backend.count_tasks(TaskQuery(**{**vars(query), "limit": None}))
        projects = {p.id: p.name for p in backend.list_projects()}
    if as_json:
        out.print_json(
            {
                "total": total,
                "tasks": [
                    {**out.jsonable(r), "project_name": projects.get(r.project or "")} for r in records
                ],
            }
        )
        return
    screen = out.console()
    # A narrow terminal drops columns rather than cut the id (`tasks show` has them all).
    columns = _TASK_COLUMNS if screen.width >= 120 else ("name", "status", "duration")
    table = out.table(f"{len(records)} of {total} task(s)")
    out.id_column(table)
    for column in columns:
        table.add_column(column, no_wrap=column == "status")
    for record in records:
        cells = {
            "project": out.shown(projects.get(record.project or "", "-")),
            "name": out.shown(record.name),
            "type": out.shown(record.type),
            "status": out.status(record.status),
            "started": out.when(record.started),
            "duration": out.seconds(record.started, record.ended),
        }
        table.add_row(out.shown(record.id), *(cells[column] for column in columns))
    screen.print(table)


_TASK_COLUMNS = ("project", "name", "type", "status", "started", "duration")


@tasks.command("show")
@click.argument("task_id", shell_complete=task_ids)
@click.option(
    "--lines", type=click.IntRange(min=0), default=20, show_default=True, help="Console lines shown."
)
@json_option
def tasks_show(task_id: str, lines: int, as_json: bool) -> None:
    """Fields, parameters, configuration, artifacts, models and the last console lines of a task."""
    with out.errors():
        backend = _backend()
        task_id = _task_id(backend, task_id)
        record = backend.get_task(task_id)
        project = backend.get_project(record.project).name if record.project else "-"
        parameters = backend.get_parameters(task_id)
        configurations = backend.get_configurations(task_id)
        artifacts = backend.get_artifacts(task_id)
        links = backend.get_task_models(task_id)
        models = {link.model_id: backend.get_model(link.model_id) for link in links}
        console_lines = backend.get_console(task_id)[-lines:] if lines else []
    if as_json:
        out.print_json(
            {
                "task": record,
                "project_name": project,
                "parameters": parameters,
                "configurations": configurations,
                "artifacts": artifacts,
                "models": [{**out.jsonable(link), "model": models[link.model_id]} for link in links],
                "console": console_lines,
            }
        )
        return
    _print_task(record, project, parameters, configurations, artifacts, links, models, console_lines)


def _print_task(
    record: TaskRecord,
    project: str,
    parameters: dict[str, Param],
    configurations: dict[str, ConfigObject],
    artifacts: Sequence[ArtifactRecord],
    links: Sequence[TaskModel],
    models: dict[str, ModelRecord],
    console_lines: Sequence[ConsoleLine],
) -> None:
    screen = out.console()
    screen.print(_fields_grid(record, project))
    if record.status_reason:
        screen.print("\n[bold]status reason[/]")
        screen.print(out.shown(record.status_reason[-2000:], lines=True))
    if parameters:
        screen.print(_parameters_table(parameters))
    if configurations:
        screen.print("[bold]configuration objects:[/] " + out.shown(", ".join(configurations)))
    if artifacts:
        screen.print(_artifacts_table(artifacts, screen.width < 120))
    if links:
        screen.print(_models_table(links, models))
    if console_lines:
        screen.print(f"[bold]console (last {len(console_lines)} lines)[/]")
        for line in console_lines:
            style = "red" if line.stream == "stderr" else ""
            text = out.shown(line.text, lines=True)
            screen.print(f"[{style}]{text}[/]" if style else text)


def _fields_grid(record: TaskRecord, project: str) -> Table:
    from rich.table import Table

    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold")
    fields.add_column()
    for label, value in (
        ("id", out.shown(record.id)),
        ("name", out.shown(record.name)),
        ("project", out.shown(project)),
        ("type", out.shown(record.type)),
        ("status", out.status(record.status)),
        ("message", out.shown(record.status_message) or "-"),
        ("created", out.when(record.created)),
        ("started", out.when(record.started)),
        ("ended", out.when(record.ended)),
        ("duration", out.seconds(record.started, record.ended)),
        ("parent", out.shown(record.parent or "-")),
        ("tags", out.shown(", ".join(record.tags)) or "-"),
        ("system tags", out.shown(", ".join(record.system_tags)) or "-"),
        ("user", out.shown(record.user or "-")),
        ("queue", out.shown(record.queue or "-")),
        ("entry point", out.shown(record.script.get("entry_point", "-"))),
    ):
        fields.add_row(label, value)
    return fields


def _parameters_table(parameters: dict[str, Param]) -> Table:
    from rich.table import Table

    table = Table(title="parameters", title_justify="left", header_style="bold")
    for column in ("name", "value", "type"):
        table.add_column(column)
    for key, param in parameters.items():
        table.add_row(out.shown(key), out.shown(repr(param.value)), out.shown(param.type))
    return table


def _artifacts_table(artifacts: Sequence[ArtifactRecord], narrow: bool) -> Table:
    from rich.table import Table

    table = Table(title="artifacts", title_justify="left", header_style="bold")
    table.add_column("name", overflow="fold")
    table.add_column("type", overflow="fold")
    table.add_column("size", no_wrap=True)
    table.add_column("sha256", no_wrap=True, overflow="ellipsis", max_width=12)
    table.add_column("preview", no_wrap=True, overflow="ellipsis", max_width=24 if narrow else 60)
    for artifact in artifacts:
        preview = artifact.preview.replace("\n", " ")[:60]
        table.add_row(
            out.shown(artifact.name),
            out.shown(artifact.type),
            _size(artifact.size),
            out.shown(artifact.hash[:12]),
            out.shown(preview),
        )
    return table


def _models_table(links: Sequence[TaskModel], models: dict[str, ModelRecord]) -> Table:
    table = out.table("models")
    table.add_column("role")
    table.add_column("name")
    out.id_column(table)
    table.add_column("framework")
    table.add_column("url")
    for link in links:
        model = models[link.model_id]
        table.add_row(
            out.shown(link.role),
            out.shown(link.name or model.name),
            out.shown(model.id),
            out.shown(model.framework or "-"),
            out.shown(model.uri),
        )
    return table


# ---------------------------------------------------------------------- artifacts


@click.group()
def artifacts() -> None:
    """Fetch task artifacts; sweep stored bytes nothing points at (gc)."""


@artifacts.command("get")
@click.argument("task_id", shell_complete=task_ids)
@click.argument("name")
@click.option(
    "--out",
    "-o",
    "destination",
    type=click.Path(),
    help="Copy it here (a folder artifact becomes a folder).",
)
def artifacts_get(task_id: str, name: str, destination: str | None) -> None:
    """Print the local path of artifact NAME of task TASK_ID (or a unique prefix), or copy it
    to --out."""
    from ductwork.core.errors import NotFound
    from ductwork.sdk.artifact import Artifact

    with out.errors():
        backend = _backend()
        task_id = _task_id(backend, task_id)
        found = {artifact.name: artifact for artifact in backend.get_artifacts(task_id)}
        if name not in found:
            known = ", ".join(sorted(found)) or "none"
            raise NotFound(f"task {task_id} has no artifact {name!r} (it has: {known})")
        record = found[name]
        # through the SDK's view, so bytes only the server can reach are streamed from it
        with out.progress(f"fetching {name} ({_size(record.size)})"):
            path = Artifact(record, None, backend).get_local_copy(raise_on_error=True) or ""
    if destination is None:
        click.echo(printable(path))
        return
    with out.progress(f"copying {name} to {destination}"):
        copied = _copy(path, destination)
    click.echo(printable(copied))


def _copy(path: str, destination: str) -> str:
    import os
    import shutil

    try:
        if os.path.isdir(path):
            shutil.copytree(path, destination, dirs_exist_ok=True)
            return destination
        target = (
            os.path.join(destination, os.path.basename(path)) if os.path.isdir(destination) else destination
        )
        shutil.copyfile(path, target)
        return target
    except OSError as exc:
        raise click.ClickException(f"cannot write {destination}: {exc.strerror or exc}") from exc
