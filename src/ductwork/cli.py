"""`ductwork ...`: the command line (the composition root: it may import any layer).

Each command imports what it needs when it runs, so `ductwork --help` stays fast. Command
groups of other parts are registered at the bottom, either imported (`main.add_command`) or
lazily by import path (`lazy(...)`, imported only when that command runs).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from ductwork.core.display import mask_secrets, printable

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from ductwork.client.contract import Backend
    from ductwork.core.records import ArtifactRecord, ModelRecord, Param, TaskModel, TaskRecord


class Group(click.Group):
    """A click group whose subcommands may be imported only when used."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lazy: dict[str, tuple[str, str]] = {}

    def lazy(self, name: str, target: str, short_help: str) -> None:
        """Register `name` as the click command at `"module:attribute"`."""
        self._lazy[name] = (target, short_help)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in self._lazy:
            module, _, attribute = self._lazy[cmd_name][0].partition(":")
            command = getattr(importlib.import_module(module), attribute)
            self.add_command(command, cmd_name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in self._lazy and name not in self.commands:
                rows.append((name, self._lazy[name][1]))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(formatter.width - 6 - len(name))))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ductwork", prog_name="ductwork")
def main() -> None:
    """ductwork: pipelines with the ClearML Pipelines API, embedded by default.

    Everything is stored under $DUCTWORK_HOME (default ~/.ductwork), or in the database at
    $DUCTWORK_DB_URL, or on the server at $DUCTWORK_API_URL.
    """


# ---------------------------------------------------------------------- helpers


@contextmanager
def _errors() -> Iterator[None]:
    """Our errors become a one-line message and exit code 1, never a traceback."""
    from ductwork.core.errors import DuctworkError

    try:
        yield
    except DuctworkError as exc:
        raise click.ClickException(printable(mask_secrets(exc))) from exc


def _backend() -> Backend:
    from ductwork import client

    return client.backend()


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


def _console() -> Console:
    from rich.console import Console

    # No emoji codes either: `:name:` in a stored string prints as it is stored.
    console = Console(highlight=False, soft_wrap=False, emoji=False)
    if not console.is_terminal:  # piped or captured: do not squeeze tables into 80 columns
        console.width = max(console.width, 200)
    return console


def _when(timestamp: float | None) -> str:
    if not timestamp:
        return "-"
    import time

    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def _duration(record: TaskRecord) -> str:
    import time

    if not record.started:
        return "-"
    seconds = (record.ended or time.time()) - record.started
    if seconds < 60:
        return f"{seconds:.2f}s" if seconds < 10 else f"{seconds:.1f}s"
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


_STATUS_STYLE = {
    "created": "dim",
    "queued": "cyan",
    "in_progress": "blue",
    "completed": "green",
    "published": "green",
    "failed": "red",
    "stopped": "yellow",
}


def _status(status: str) -> str:
    return f"[{_STATUS_STYLE.get(status, '')}]{status}[/]" if status in _STATUS_STYLE else _escape(status)


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def _escape(text: object, *, lines: bool = False) -> str:
    """Stored text made inert for rich: control, bidi and escape characters shown as escapes
    (`printable`; with `lines`, newlines and tabs kept), `[markup]` shown as written."""
    from rich.markup import escape

    return escape(printable(text, lines=lines))


# ---------------------------------------------------------------------- tasks


@main.group()
def tasks() -> None:
    """List and inspect tasks."""


@tasks.command("list")
@click.option("--project", "-p", help="Project name (its subprojects too).")
@click.option("--status", "-s", multiple=True, help="Only tasks with this status (repeatable).")
@click.option("--name", help="Only tasks whose name matches this regular expression.")
@click.option("--limit", "-n", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--archived", is_flag=True, help="Include archived tasks.")
def tasks_list(
    project: str | None, status: Sequence[str], name: str | None, limit: int, archived: bool
) -> None:
    """The newest tasks, newest first."""
    from rich.table import Table

    from ductwork.core.queries import TaskQuery
    from ductwork.core.states import TaskStatus

    known = [s.value for s in TaskStatus]
    for value in status:
        if value not in known:
            raise click.BadParameter(f"{value!r} is not one of {', '.join(known)}", param_hint="--status")
    with _errors():
        backend = _backend()
        _settle_dead(backend)
        query = TaskQuery(
            project_name=project,
            include_subprojects=True,
            status=list(status) or None,
            name_pattern=name,
            archived=None if archived else False,
            limit=limit,
        )
        if project is not None and backend.find_project(project) is None:
            raise click.ClickException(f"project {project!r} not found")
        records = backend.query_tasks(query)
        total = backend.count_tasks(TaskQuery(**{**vars(query), "limit": None}))
        projects = {p.id: p.name for p in backend.list_projects()}
    table = Table(title=f"{len(records)} of {total} task(s)", title_justify="left", header_style="bold")
    for column in ("id", "project", "name", "type", "status", "started", "duration"):
        table.add_column(column, no_wrap=column in ("id", "status", "started"))
    for record in records:
        table.add_row(
            _escape(record.id),
            _escape(projects.get(record.project or "", "-")),
            _escape(record.name),
            _escape(record.type),
            _status(record.status),
            _when(record.started),
            _duration(record),
        )
    _console().print(table)


@tasks.command("show")
@click.argument("task_id")
@click.option(
    "--lines", type=click.IntRange(min=0), default=20, show_default=True, help="Console lines shown."
)
def tasks_show(task_id: str, lines: int) -> None:
    """Fields, parameters, configuration, artifacts, models and the last console lines of a task."""
    with _errors():
        backend = _backend()
        record = backend.get_task(task_id)
        project = backend.get_project(record.project).name if record.project else "-"
        parameters = backend.get_parameters(task_id)
        configurations = backend.get_configurations(task_id)
        artifacts = backend.get_artifacts(task_id)
        links = backend.get_task_models(task_id)
        models = {link.model_id: backend.get_model(link.model_id) for link in links}
        console_lines = backend.get_console(task_id)[-lines:] if lines else []
    out = _console()
    out.print(_fields_grid(record, project))
    if record.status_reason:
        out.print("\n[bold]status reason[/]")
        out.print(_escape(record.status_reason[-2000:], lines=True))
    if parameters:
        out.print(_parameters_table(parameters))
    if configurations:
        out.print("[bold]configuration objects:[/] " + _escape(", ".join(configurations)))
    if artifacts:
        out.print(_artifacts_table(artifacts))
    if links:
        out.print(_models_table(links, models))
    if console_lines:
        out.print(f"[bold]console (last {len(console_lines)} lines)[/]")
        for line in console_lines:
            style = "red" if line.stream == "stderr" else ""
            text = _escape(line.text, lines=True)
            out.print(f"[{style}]{text}[/]" if style else text)


def _fields_grid(record: TaskRecord, project: str) -> Table:
    from rich.table import Table

    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold")
    fields.add_column()
    for label, value in (
        ("id", _escape(record.id)),
        ("name", _escape(record.name)),
        ("project", _escape(project)),
        ("type", _escape(record.type)),
        ("status", _status(record.status)),
        ("message", _escape(record.status_message) or "-"),
        ("created", _when(record.created)),
        ("started", _when(record.started)),
        ("ended", _when(record.ended)),
        ("duration", _duration(record)),
        ("parent", _escape(record.parent or "-")),
        ("tags", _escape(", ".join(record.tags)) or "-"),
        ("system tags", _escape(", ".join(record.system_tags)) or "-"),
        ("user", _escape(record.user or "-")),
        ("queue", _escape(record.queue or "-")),
        ("entry point", _escape(record.script.get("entry_point", "-"))),
    ):
        fields.add_row(label, value)
    return fields


def _parameters_table(parameters: dict[str, Param]) -> Table:
    from rich.table import Table

    table = Table(title="parameters", title_justify="left", header_style="bold")
    for column in ("name", "value", "type"):
        table.add_column(column)
    for key, param in parameters.items():
        table.add_row(_escape(key), _escape(repr(param.value)), _escape(param.type))
    return table


def _artifacts_table(artifacts: Sequence[ArtifactRecord]) -> Table:
    from rich.table import Table

    table = Table(title="artifacts", title_justify="left", header_style="bold")
    for column in ("name", "type", "size", "sha256", "preview"):
        table.add_column(column, overflow="ellipsis", no_wrap=column != "name")
    for artifact in artifacts:
        preview = artifact.preview.replace("\n", " ")[:60]
        table.add_row(
            _escape(artifact.name),
            _escape(artifact.type),
            _size(artifact.size),
            _escape(artifact.hash[:12]),
            _escape(preview),
        )
    return table


def _models_table(links: Sequence[TaskModel], models: dict[str, ModelRecord]) -> Table:
    from rich.table import Table

    table = Table(title="models", title_justify="left", header_style="bold")
    for column in ("role", "name", "id", "framework", "url"):
        table.add_column(column)
    for link in links:
        model = models[link.model_id]
        table.add_row(
            _escape(link.role),
            _escape(link.name or model.name),
            _escape(model.id),
            _escape(model.framework or "-"),
            _escape(model.uri),
        )
    return table


# ---------------------------------------------------------------------- artifacts


@main.group()
def artifacts() -> None:
    """Fetch task artifacts."""


@artifacts.command("get")
@click.argument("task_id")
@click.argument("name")
@click.option("--out", "-o", type=click.Path(), help="Copy it here (a folder artifact becomes a folder).")
def artifacts_get(task_id: str, name: str, out: str | None) -> None:
    """Print the local path of artifact NAME of task TASK_ID, or copy it to --out."""
    import os
    import shutil

    from ductwork.core.errors import NotFound
    from ductwork.sdk.artifact import Artifact

    with _errors():
        backend = _backend()
        backend.get_task(task_id)
        found = {artifact.name: artifact for artifact in backend.get_artifacts(task_id)}
        if name not in found:
            known = ", ".join(sorted(found)) or "none"
            raise NotFound(f"task {task_id} has no artifact {name!r} (it has: {known})")
        # through the SDK's view, so bytes only the server can reach are streamed from it
        path = Artifact(found[name], None, backend).get_local_copy(raise_on_error=True) or ""
    if out is None:
        click.echo(printable(path))
        return
    try:
        if os.path.isdir(path):
            shutil.copytree(path, out, dirs_exist_ok=True)
        else:
            target = os.path.join(out, os.path.basename(path)) if os.path.isdir(out) else out
            shutil.copyfile(path, target)
            out = target
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc.strerror or exc}") from exc
    click.echo(printable(out))


# ---------------------------------------------------------------------- queues


@main.group()
def queues() -> None:
    """Inspect queues."""


@queues.command("list")
def queues_list() -> None:
    """Queues with their length and the workers that serve them."""
    from rich.table import Table

    with _errors():
        backend = _backend()
        found = backend.list_queues()
        workers = backend.list_workers()
    table = Table(title=f"{len(found)} queue(s)", title_justify="left", header_style="bold")
    for column in ("name", "length", "workers", "id"):
        table.add_column(column)
    for queue in found:
        serving = [worker.id for worker in workers if queue.name in worker.queues]
        table.add_row(
            _escape(queue.name), str(queue.length), _escape(", ".join(serving)) or "-", _escape(queue.id)
        )
    _console().print(table)


# ---------------------------------------------------------------------- db


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--url", help="Database URL (default: $DUCTWORK_DB_URL, else SQLite in $DUCTWORK_HOME).")
def db_upgrade(url: str | None) -> None:
    """Migrate the store's schema to this version of ductwork (servers; the SDK does it itself)."""
    from ductwork.core import settings
    from ductwork.store import migrate

    target = url or settings.db_url()
    if target.startswith("sqlite:///"):
        from pathlib import Path

        Path(target.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    with _errors():
        revision = migrate.upgrade(target)
    click.echo(f"{_hide_password(target)}: schema at revision {revision}")


def _hide_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return mask_secrets(url)  # a URL SQLAlchemy cannot read may still hold a password


# ---------------------------------------------------------------------- demo


@main.command("demo")
@click.option("--project", default="ductwork demo", show_default=True, help="Project to create the tasks in.")
@click.option("--ui/--no-ui", default=True, show_default=True, help="Serve the web UI afterwards.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port of the web UI (loopback).")
def demo(project: str, ui: bool, port: int) -> None:
    """Run the demo: tasks with parameters, artifacts and a model, then a real pipeline
    (a process per step), then the web UI to look at them."""
    from ductwork.demo import run_demo
    from ductwork.demo_pipeline import run as run_pipeline

    with _errors():
        run_demo(project)
        click.echo("\nRunning the demo pipeline 'model search' (each step in its own process)...")
        best = run_pipeline("local")
        click.echo(f"best model: rate {best['rate']}, test mse {best['test_mse']:.4f}")
        click.echo("See it with `ductwork pipelines list` and `ductwork pipelines show RUN_ID`.")
    if not ui:
        return
    from ductwork.server import serving
    from ductwork.server.app import create_app

    app = create_app(None, auth=False)
    listener = serving.listen("127.0.0.1", port)  # the address is printed once the port is ours
    click.echo(f"\nWeb UI: {serving.address(listener)}/  (Ctrl-C to stop)")
    serving.serve(app, listener)


# ---------------------------------------------------------------------- other parts
# Register command groups of other parts below, either imported:
#     main.add_command(some_group)
# or imported only when the command runs (keeps `ductwork --help` fast):
#     lazy("name", "ductwork.part.module:command", "One-line help.")

assert isinstance(main, Group)  # made by @click.group(cls=Group)
lazy = main.lazy
lazy("pipelines", "ductwork.pipelines.commands:pipelines", "Pipeline runs: list, show, resume.")
lazy("scheduler", "ductwork.automation.commands:scheduler", "Schedules and triggers: last and next firings.")

# server, ui, users, keys; agent, queues create|delete, tasks abort (light imports: click + core)
importlib.import_module("ductwork.server.commands").register(main)
importlib.import_module("ductwork.agent.commands").register(main)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
