"""`ductwork ...`: the command line (the composition root: it may import any layer).

Each command imports what it needs when it runs, so `ductwork --help` stays fast. Command
groups of other parts are registered at the bottom, either imported (`main.add_command`) or
lazily by import path (`lazy(...)`, imported only when that command runs).
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

import click

from ductwork import terminal as out
from ductwork.core.display import mask_secrets
from ductwork.terminal import json_option

if TYPE_CHECKING:
    from ductwork.client.contract import Backend


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


def _backend() -> Backend:
    from ductwork import client

    return client.backend()


# ---------------------------------------------------------------------- queues


@main.group()
def queues() -> None:
    """Inspect queues."""


@queues.command("list")
@json_option
def queues_list(as_json: bool) -> None:
    """Queues with their length and the workers that serve them."""
    out.look_only()
    with out.errors():
        backend = _backend()
        found = backend.list_queues()
        workers = backend.list_workers()
    serving = {q.name: [w.id for w in workers if q.name in w.queues] for q in found}
    if as_json:
        out.print_json([{**out.jsonable(q), "workers": serving[q.name]} for q in found])
        return
    table = out.table(f"{len(found)} queue(s)")
    for column in ("name", "length", "workers"):
        table.add_column(column)
    out.id_column(table)
    for queue in found:
        workers_shown = out.shown(", ".join(serving[queue.name])) or "-"
        table.add_row(out.shown(queue.name), str(queue.length), workers_shown, out.shown(queue.id))
    out.console().print(table)


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
    with out.errors(), out.progress("migrating the schema"):
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

    listener = None
    if ui:  # the port first: a busy one fails before the demo runs or anything is printed
        from ductwork.server import serving

        listener = serving.listen("127.0.0.1", port)
    base = serving.address(listener) if listener is not None else f"http://127.0.0.1:{port}"
    with out.errors():
        run_demo(project)
        click.echo("\nRunning the demo pipeline 'model search' (each step in its own process)...")
        best = run_pipeline("local")
        click.echo(f"best model: rate {best['rate']}, test mse {best['test_mse']:.4f}")
        run_id = _newest_run("model search")
    if run_id:
        click.echo(f"\nPipeline run: {run_id}")
        click.echo(f"  ductwork pipelines show {run_id}")
        if listener is None:
            click.echo(f"  in the web UI (`ductwork ui`): {base}/runs/{run_id}")
    if listener is None:
        return
    from ductwork.server.app import create_app

    app = create_app(None, auth=False)
    if run_id:
        click.echo(f"\nThe run in the web UI: {base}/runs/{run_id}")
    click.echo(f"Web UI: {base}/  (Ctrl-C to stop)")
    serving.serve(app, listener)


def _newest_run(name: str) -> str | None:
    """The id of the newest pipeline run called `name`."""
    from ductwork.core.queries import TaskQuery
    from ductwork.core.runformat import CONTROLLER_TYPE, PIPELINE_TAG

    query = TaskQuery(type=[CONTROLLER_TYPE], system_tags=[PIPELINE_TAG], name=name, limit=1)
    found = _backend().query_tasks(query)
    return found[0].id if found else None


# ---------------------------------------------------------------------- completion


@main.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL: commands, options and run and task ids.

    \b
      bash: eval "$(ductwork completion bash)"      (in ~/.bashrc)
      zsh:  eval "$(ductwork completion zsh)"       (in ~/.zshrc)
      fish: ductwork completion fish > ~/.config/fish/completions/ductwork.fish
    """
    from click.shell_completion import get_completion_class

    complete = get_completion_class(shell)
    assert complete is not None  # the three shells click ships
    click.echo(complete(main, {}, "ductwork", "_DUCTWORK_COMPLETE").source())


# ---------------------------------------------------------------------- storage


@click.command("gc")
@click.option(
    "--root",
    "roots",
    multiple=True,
    help="Artifact storage to sweep, a folder or fsspec URL (repeatable; default: $DUCTWORK_ARTIFACTS_URI, "
    "else $DUCTWORK_HOME/artifacts).",
)
@click.option(
    "--grace-hours",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Spare blobs written this recently (an upload whose record is not written yet).",
)
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@json_option
def artifacts_gc(roots: tuple[str, ...], grace_hours: float, dry_run: bool, as_json: bool) -> None:
    """Delete stored bytes no artifact, model or reported image points at any more (what deleted
    tasks and runs left). Runs beside the store: on a server's machine, with its DUCTWORK_DB_URL
    and --root its storage."""
    from ductwork.artifacts.collect import collect_garbage
    from ductwork.core import settings
    from ductwork.core.errors import ValidationError
    from ductwork.store.store import Store

    with out.errors():
        if settings.api_url():
            raise ValidationError(
                "artifacts gc works on the store itself, not through a server: run it on the server's "
                "machine with DUCTWORK_DB_URL (or DUCTWORK_HOME) set as the server has it, and unset "
                "DUCTWORK_API_URL"
            )
        store = Store(settings.db_url())
        try:
            keep = store.referenced_hashes()  # read before the sweep: a newer record's blob is young
        finally:
            store.close()
        swept = {
            root: collect_garbage(root, keep, grace_seconds=grace_hours * 3600, dry_run=dry_run)
            for root in roots or (settings.artifacts_uri(),)
        }
    if as_json:
        rows = [{"root": root, "dry_run": dry_run, **vars(done)} for root, done in swept.items()]
        out.print_json(rows)
        return
    verb = "would delete" if dry_run else "deleted"
    for root, done in swept.items():
        click.echo(f"{root}: {verb} {done.removed} blob(s), {done.freed:,} bytes; kept {done.kept}")


# ---------------------------------------------------------------------- other parts
# Register command groups of other parts below, either imported:
#     main.add_command(some_group)
# or imported only when the command runs (keeps `ductwork --help` fast):
#     lazy("name", "ductwork.part.module:command", "One-line help.")

assert isinstance(main, Group)  # made by @click.group(cls=Group)
lazy = main.lazy
lazy("pipelines", "ductwork.pipelines.commands:pipelines", "Pipeline runs: list, show, watch, resume.")
lazy("scheduler", "ductwork.automation.commands:scheduler", "Schedules and triggers: last and next firings.")

# tasks list|show, artifacts get (before agent's `tasks abort` joins the group)
sdk_commands = importlib.import_module("ductwork.sdk.commands")
main.add_command(sdk_commands.tasks)
main.add_command(sdk_commands.artifacts)
sdk_commands.artifacts.add_command(artifacts_gc)
# server, ui, users, keys; agent, queues create|delete, tasks abort (light imports: click + core)
importlib.import_module("ductwork.server.commands").register(main)
importlib.import_module("ductwork.agent.commands").register(main)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
