"""Docker mode: each task in a container of its own (`ductwork agent --docker [IMAGE]`), as
`clearml-agent --docker` runs them.

The task's container settings (`Task.set_base_docker`, `add_function_step(docker=,
docker_args=, docker_bash_setup_script=)`, stored as `TaskRecord.container`: `image`,
`arguments`, `setup_shell_script`) choose the image (else the agent's default), extra `run`
arguments (checked by `docker_args`) and a bash script run in the container before the task.
The task's folder is mounted at its own path, so the command, working folder and import paths
the agent prepared mean the same inside; the container shares the host's network (a server on
loopback is reached by the agent's own URL) and gets the server's URL and the agent's key (the
server has no task-scoped key yet), passed by name so the key is on no command line.

Supervision is the agent's as for any task: the engine's `run` process is the child whose
process group an abort or a time limit kills; the engine passes the SIGTERM on to the container,
and when the engine's process had to be killed (or failed) the container is removed by name.
When the agent itself dies the engine gets SIGTERM (`setpriv --pdeathsig`) and so does the
container. `docker` or `podman`, whichever works here (`docker` with no daemon does not).
"""

from __future__ import annotations

import fnmatch
import functools
import os
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from ductwork.agent import docker_args
from ductwork.agent.process import ConsoleStream, TaskProcess
from ductwork.core.errors import ValidationError
from ductwork.core.patterns import Pattern
from ductwork.process import Child, spawn

PYTHON = "python3"  # the image's interpreter, found on its PATH (as clearml-agent does)
ENGINES = ("docker", "podman")
PULLS = ("missing", "never", "always")
SETUP = "DUCTWORK_CONTAINER_SETUP"  # the setup script travels as a variable: no quoting, no file
# The container's command: the setup script in the task's shell (its exports reach the task),
# then the task itself in the folder it was given.
_BOOT = f"""
if [ -n "${{{SETUP}:-}}" ]; then
  here=$PWD
  eval "${SETUP}" || {{
    code=$?; echo "ductwork: the container's setup script failed (exit $code)" >&2; exit $code
  }}
  cd "$here"
fi
unset {SETUP}
exec "$@"
"""
# ductwork's variables that name this machine (its store, home, pipe): never inside.
_HOST_ONLY = frozenset({"DUCTWORK_HOME", "DUCTWORK_DB_URL", "DUCTWORK_PIPE", "DUCTWORK_ARTIFACTS_URI"})
_IMAGE = Pattern(r"[A-Za-z0-9][A-Za-z0-9._/:@-]{0,511}")
PROBE_TIMEOUT_S = 60.0


class ContainerError(ValidationError):
    """Docker mode cannot run here, or not this task (no image, a bad image name)."""


@dataclass(frozen=True)
class ContainerOptions:
    """An agent's docker mode, beyond its default image (`AgentOptions.docker`)."""

    engine: str | None = None  # "docker", "podman" or a path; None: whichever works here
    allowed: frozenset[str] = docker_args.SAFE  # the task docker_args flags passed on
    run_args: tuple[str, ...] = ()  # the operator's own `run` arguments, on every container
    pull: str = "missing"  # the engine's --pull: missing, never, always
    images: tuple[str, ...] = ()  # patterns (fnmatch) of the images a task may name; () any


@dataclass(frozen=True)
class Engine:
    kind: str  # "docker" or "podman"
    path: str


def find_engine(wanted: str | None = None, which: Callable[[str], str | None] = shutil.which) -> Engine:
    """`wanted`, or the first of docker and podman that answers `info`; a sentence if none does."""
    problems: list[str] = []
    for candidate in [wanted] if wanted else ENGINES:
        path = which(candidate)
        if path is None:
            problems.append(f"{candidate} is not installed")
            continue
        trouble = _trouble(path)
        if trouble is None:
            return Engine("podman" if "podman" in Path(path).name else "docker", path)
        problems.append(f"{candidate} does not work here ({trouble})")
    raise ContainerError(
        "docker mode needs a working container engine: "
        + "; ".join(problems)
        + ". Install podman (apt-get install podman) or start the docker daemon,"
        " or name one with --docker-engine."
    )


def _trouble(path: str) -> str | None:
    """Why `path info` fails (docker without its daemon, a broken podman), None when it works."""
    try:
        done = subprocess.run(
            [path, "info"], capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode == 0:
        return None
    lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
    return lines[-1][:300] if lines else f"exit code {done.returncode}"


def checked_image(image: str) -> str:
    """An image reference, refused when it could be read as anything else (a flag, a path)."""
    if not _IMAGE.fullmatch(image) or ".." in image:
        raise ContainerError(f"{image!r} is not a container image name")
    return image


class ContainerLauncher:
    """Starts each task in a container: `start(container, argv, cwd=, env=, paths=, console=)`."""

    def __init__(
        self,
        image: str,
        options: ContainerOptions,
        child_env: Mapping[str, str],
        *,
        agent: str,
        log: Callable[[str], None],
    ) -> None:
        if "DUCTWORK_API_URL" not in child_env:
            raise ContainerError(
                "docker mode needs a server: a container cannot open this machine's store "
                "(run the agent with DUCTWORK_API_URL and an agent key)"
            )
        if options.pull not in PULLS:
            raise ContainerError(f"--docker-pull must be one of {', '.join(PULLS)}, got {options.pull!r}")
        self.image = checked_image(image) if image else ""
        self.options = options
        self.engine = find_engine(options.engine)
        self._agent = agent
        self._running: set[str] = set()
        self._lock = threading.Lock()
        log(
            f"docker mode: containers by {self.engine.kind} ({self.engine.path}), default image "
            f"{self.image or '(none: each task names its own)'}"
        )

    def start(
        self,
        container: Mapping[str, object],
        argv: Sequence[str],
        *,
        cwd: Path,
        env: dict[str, str],
        paths: list[str],
        console: ConsoleStream,
    ) -> TaskProcess:
        """Run `argv` (the image's python or bash, then the task's arguments) in the task's
        container; a task that asks for what the agent refuses fails here, before it starts."""
        image = checked_image(str(container.get("image") or self.image or _no_image()))
        image = allowed_image(image, self.image, self.options.images)
        arguments = docker_args.checked(_text(container.get("arguments"), " "), self.options.allowed)
        inside = _inside_env(env, paths, _text(container.get("setup_shell_script"), "\n"))
        name = f"ductwork-{env.get('DUCTWORK_TASK_ID', 'task')[:12]}-{secrets.token_hex(3)}"
        command = [
            *self._run(name, env.get("DUCTWORK_TASK_ID", ""), _mount(cwd, paths), cwd, inside),
            *self.options.run_args,
            *arguments,
            *("--entrypoint", "bash", image, "-c", _BOOT, "ductwork-task", *argv),
        ]
        console.write(f"running {' '.join(argv)} in {cwd}, in container {name} of image {image}", "ductwork")
        child = spawn([*_term_with_parent(), *command], cwd=cwd, env={**env, **inside})
        with self._lock:
            self._running.add(name)
        return ContainerProcess(child, console, functools.partial(self._ended, name))

    def close(self) -> None:
        """Remove any container still running (an agent stopping in an error)."""
        with self._lock:
            left = list(self._running)
        for name in left:
            self._ended(name, force=True)

    def _run(self, name: str, task_id: str, mount: str, cwd: Path, inside: Mapping[str, str]) -> list[str]:
        """`ENGINE run` with what the agent sets itself; values of variables come from the
        engine's environment (`--env NAME`), so the key shows on no command line."""
        return [
            self.engine.path,
            "run",
            "--rm",
            "--init",  # a PID 1 that passes SIGTERM on to the task (the task as PID 1 would ignore it)
            f"--name={name}",
            f"--label=ductwork.task={task_id}",
            f"--label=ductwork.agent={self._agent}",
            f"--pull={self.options.pull}",
            "--network=host",
            f"--volume={mount}:{mount}",
            f"--workdir={cwd}",
            *(f"--env={variable}" for variable in sorted(inside)),
        ]

    def _ended(self, name: str, *, force: bool) -> None:
        """The task's process ended: when it was killed or failed, make sure no container is
        left running (a killed engine process leaves its container behind)."""
        with self._lock:
            self._running.discard(name)
        if not force:
            return
        quick = ["--time", "0", "--ignore"] if self.engine.kind == "podman" else []
        try:
            subprocess.run(
                [self.engine.path, "rm", "--force", *quick, name],
                capture_output=True,
                timeout=PROBE_TIMEOUT_S,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            pass  # nothing more this agent can do; the container's own end removes it (--rm)


class ContainerProcess(TaskProcess):
    """A task's engine process; on its end the container is removed unless it exited cleanly."""

    def __init__(self, child: Child, console: ConsoleStream, ended: Callable[..., None]) -> None:
        super().__init__(child, console)
        self._ended = ended

    def finish(self) -> None:
        self._ended(force=self.child.poll(0) != 0)
        super().finish()


def allowed_image(image: str, default: str, patterns: Sequence[str]) -> str:
    """`image` when the agent's operator lets tasks name it (`patterns`, fnmatch on the whole
    name; none: any); the agent's own `default` always."""
    if image == default or not patterns or any(fnmatch.fnmatchcase(image, p) for p in patterns):
        return image
    raise ContainerError(
        f"image {image} is not allowed on this agent (it allows {', '.join(patterns)};"
        " its operator can allow more with --docker-allow-image)"
    )


def _no_image() -> NoReturn:
    raise ContainerError(
        "the task names no container image (Task.set_base_docker, add_function_step(docker=...)) "
        "and this agent has no default one (ductwork agent --docker IMAGE)"
    )


def _text(value: object, between: str) -> str:
    """A stored setting as text: a string, or a list of them (one a line, or an argument)."""
    if isinstance(value, list):
        quote = shlex.quote if between == " " else str
        return between.join(quote(str(item)) for item in value)
    return str(value or "")


def _inside_env(env: Mapping[str, str], paths: list[str], setup: str) -> dict[str, str]:
    """The variables the task gets inside: ductwork's own (server, key, task), its import
    paths and the setup script; nothing else of the agent's environment."""
    inside = {k: v for k, v in env.items() if k.startswith("DUCTWORK_") and k not in _HOST_ONLY}
    inside["PYTHONUNBUFFERED"] = "1"
    inside["PYTHONPATH"] = os.pathsep.join(paths)
    if setup:
        inside[SETUP] = setup
    return inside


def _mount(cwd: Path, paths: list[str]) -> str:
    """The task's folder (what the agent laid out for it), which the container gets; never
    anything outside the agent's temporary folder (an absolute working_dir would be)."""
    mount = os.path.commonpath([str(cwd), *paths])
    if not os.path.realpath(mount).startswith(os.path.realpath(tempfile.gettempdir()) + os.sep):
        raise ContainerError(
            f"in docker mode a task runs in its own folder; its working folder {cwd} lies outside it"
        )
    return mount


@functools.cache
def _term_with_parent() -> tuple[str, ...]:
    """SIGTERM the engine's process when the agent dies (the engine passes it to the
    container); `ductwork.process.spawn`'s SIGKILL would leave the container running."""
    setpriv = shutil.which("setpriv")
    if setpriv is None or not sys.platform.startswith("linux"):
        return ()
    return (setpriv, "--pdeathsig", "TERM", "--")
