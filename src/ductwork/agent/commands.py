"""CLI: `ductwork agent`, `ductwork queues create|delete`, `ductwork tasks abort`.

They talk to whatever backend this process is configured for: a server when
`DUCTWORK_API_URL` is set, else the embedded store. `register(main)` adds them to the
`ductwork` group, joining the `queues` and `tasks` groups when those already exist.
"""

from __future__ import annotations

import shlex
import signal
from types import FrameType
from typing import Any

import click

from ductwork.completion import task_ids
from ductwork.core.display import mask_secrets, printable, status_word
from ductwork.core.errors import DuctworkError
from ductwork.terminal import look_only

PULLS = ("missing", "never", "always")  # --docker-pull, the engines' own words
SERVICES_SLOTS = 8  # `--services-mode` without a number
RAY_SLOTS = 8  # `--ray`: tasks on the cluster at once (each a driver process here)


def _said(exc: Exception) -> str:
    """An error as one printable line with no password in it (it may quote a store URL)."""
    return printable(mask_secrets(exc))


def _log(text: str) -> None:
    """The agent's own lines: they quote task ids, names and errors, so shown inert."""
    print(printable(mask_secrets(text), lines=True), flush=True)


def _queue_resources(
    given: tuple[str, ...], queues: tuple[str, ...], ray_address: str | None
) -> dict[str, dict[str, float]]:
    """`--resources QUEUE=JSON` options by queue (each a queue this agent serves)."""
    from ductwork.agent.ray import resources

    if given and not ray_address:
        raise click.UsageError("--resources is for an agent serving a Ray cluster (--ray ADDRESS)")
    found: dict[str, dict[str, float]] = {}
    for option in given:
        try:
            queue, amounts = resources.parse_queue(option)
        except DuctworkError as exc:
            raise click.BadParameter(_said(exc), param_hint="--resources") from exc
        if queue not in queues:
            raise click.BadParameter(
                f"{printable(queue)} is not a --queue of this agent", param_hint="--resources"
            )
        found[queue] = amounts
    return found


def _words(text: str) -> tuple[str, ...]:
    """`--docker-run-args` as the arguments a shell would make of it."""
    try:
        return tuple(shlex.split(text))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--docker-run-args") from exc


def _backend() -> Any:
    from ductwork.client import backend

    return backend()


@click.command("agent")
@click.option(
    "--queue", "queues", multiple=True, required=True, help="A queue to serve (repeatable; in order)."
)
@click.option("--same-env", is_flag=True, help="Run tasks with this interpreter instead of uv venvs.")
@click.option(
    "--services-mode",
    "services",
    type=int,
    is_flag=False,
    flag_value=SERVICES_SLOTS,
    default=None,
    help=f"Run up to N tasks at once (pipeline controllers); N defaults to {SERVICES_SLOTS}.",
)
@click.option("--max-tasks", type=int, default=None, help="Exit after running this many tasks.")
@click.option(
    "--fresh-processes",
    is_flag=True,
    help="Start each task as a new interpreter (not forked from a warm one of its environment).",
)
@click.option("--name", default=None, help="Worker name (default host:pid).")
@click.option("--quiet", "-q", is_flag=True, help="No line per task taken and finished.")
@click.option(
    "--ray",
    "ray_address",
    metavar="ADDRESS",
    default=None,
    help=f"Run each task as a Ray task on this cluster (docs/ray.md); {RAY_SLOTS} at once by default.",
)
@click.option(
    "--resources",
    "queue_resources",
    multiple=True,
    metavar="QUEUE=JSON",
    help="With --ray: what a queue's tasks ask of the cluster, e.g. gpu='{\"GPU\": 1}' (repeatable).",
)
@click.option(
    "--docker",
    metavar="[IMAGE]",
    is_flag=False,
    flag_value="",
    default=None,
    help="Run each task in a container: the task's image, else IMAGE (docs/containers.md).",
)
@click.option(
    "--docker-engine",
    metavar="docker|podman|PATH",
    help="With --docker: the engine (default: whichever works).",
)
@click.option(
    "--docker-allow-arg",
    multiple=True,
    metavar="FLAG",
    help="With --docker: a task docker_args flag to allow beyond the safe few (e.g. --ipc; all: any).",
)
@click.option(
    "--docker-allow-image",
    multiple=True,
    metavar="PATTERN",
    help="With --docker: images tasks may name, e.g. 'registry.example.com/team/*' (default: any).",
)
@click.option(
    "--docker-run-args",
    default="",
    metavar="ARGS",
    help="With --docker: `run` arguments for every container.",
)
@click.option(
    "--docker-pull",
    type=click.Choice(PULLS),
    default="missing",
    help="With --docker: when the engine pulls the image.",
)
def agent_command(
    queues: tuple[str, ...],
    same_env: bool,
    services: int | None,
    max_tasks: int | None,
    fresh_processes: bool,
    name: str | None,
    ray_address: str | None,
    queue_resources: tuple[str, ...],
    docker: str | None,
    docker_engine: str | None,
    docker_allow_arg: tuple[str, ...],
    docker_allow_image: tuple[str, ...],
    docker_run_args: str,
    docker_pull: str,
    quiet: bool,
) -> None:
    """Serve queues: claim each task, reproduce its code and environment, run and supervise it."""
    from ductwork.agent.announce import AnnouncingAgent
    from ductwork.agent.container import ContainerOptions
    from ductwork.agent.docker_args import allow_list
    from ductwork.agent.worker import Agent, AgentOptions

    options = AgentOptions(
        queues=list(queues),
        same_env=same_env or bool(ray_address),  # on Ray: the node's interpreter
        slots=services or (RAY_SLOTS if ray_address else 1),
        ray=ray_address,
        resources=_queue_resources(queue_resources, queues, ray_address),
        max_tasks=max_tasks,
        warm=not fresh_processes,
        docker=docker,
        container=ContainerOptions(
            docker_engine,
            allow_list(docker_allow_arg),
            _words(docker_run_args),
            docker_pull,
            docker_allow_image,
        ),
        log=_log,
    )
    if name:
        options.name = name
    try:
        agent = (Agent if quiet else AnnouncingAgent)(_backend(), options)
    except DuctworkError as exc:
        raise click.ClickException(_said(exc)) from exc

    def stop(signum: int, frame: FrameType | None) -> None:
        click.echo("ductwork agent: stopping after the running tasks finish", err=True)
        agent.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        agent.run()
    except DuctworkError as exc:
        raise click.ClickException(_said(exc)) from exc


@click.command("create")
@click.argument("name")
def queue_create(name: str) -> None:
    """Create queue NAME (nothing happens if it exists)."""
    look_only()
    try:
        queue = _backend().ensure_queue(name)
    except DuctworkError as exc:
        raise click.ClickException(_said(exc)) from exc
    click.echo(f"queue {printable(queue.name)}")


@click.command("delete")
@click.argument("name")
def queue_delete(name: str) -> None:
    """Delete queue NAME (its waiting tasks leave it)."""
    look_only()
    try:
        _backend().delete_queue(name)
    except DuctworkError as exc:
        raise click.ClickException(_said(exc)) from exc
    click.echo(f"deleted queue {printable(name)}")


@click.command("abort")
@click.argument("task_id", shell_complete=task_ids)
def task_abort(task_id: str) -> None:
    """Stop task TASK_ID (or a unique prefix): a queued one leaves its queue, a running one is
    killed by its agent."""
    from ductwork.client.ids import resolve

    look_only()
    backend = _backend()
    try:
        task_id = resolve(backend, task_id)
        if hasattr(backend, "abort_task"):
            task = backend.abort_task(task_id)
        else:
            current = backend.get_task(task_id)
            if current.status not in ("queued", "in_progress"):
                raise click.ClickException(
                    f"task {printable(task_id)} is {status_word(current.status)}; "
                    "only a pending or running task can be aborted"
                )
            task = backend.set_status(
                task_id,
                "stopped",
                message="aborted from the CLI",
                reason="abort",
                expect=["queued", "in_progress"],
            )
    except DuctworkError as exc:
        raise click.ClickException(printable(mask_secrets(exc), lines=True)) from exc
    click.echo(f"task {printable(task.id)} {status_word(task.status)}")


def register(main: click.Group) -> None:
    """Add `agent`, `queues create|delete` and `tasks abort` to the `ductwork` group."""
    main.add_command(agent_command)
    for group_name, command in (("queues", queue_create), ("queues", queue_delete), ("tasks", task_abort)):
        group = main.commands.get(group_name)
        if not isinstance(group, click.Group):
            group = click.Group(group_name, help=f"{group_name.capitalize()}.")
            main.add_command(group)
        group.add_command(command)
