"""What a task's `docker_args` may ask of an agent in docker mode.

ClearML passes a task's docker arguments through to `docker run` untouched, so whoever can
enqueue a task can ask for `--privileged` or `-v /:/host` and own the agent's machine. Here an
agent passes on only the flags on its allow-list: by default a few that change nothing outside
the container (`SAFE`); its operator adds more (`--docker-allow-arg -v`), or every flag
(`--docker-allow-arg all`, ClearML's behaviour). Whatever is refused fails the task before any
container starts, with a sentence naming the argument.

With an allow-list the arguments are parsed as the engines' own flag parser does (`--flag=value`,
`--flag value`, `-e value`, `-evalue`, `-e=value`), so no spelling slips a flag past it, and a
word that is no flag (it would become the image, or its command) is refused.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable

from ductwork.core.errors import ValidationError

ALL = "all"  # in an allow-list: pass every argument through, as ClearML does
# Flags a task may use unless its agent allows more: resources, variables, labels, a tmpfs.
SAFE = frozenset(
    {
        "-e",
        "--env",
        "--shm-size",
        "-m",
        "--memory",
        "--memory-swap",
        "--memory-reservation",
        "--cpus",
        "--cpu-shares",
        "--gpus",
        "-l",
        "--label",
        "--tmpfs",
        "--init",
    }
)
# Flags that take no value (the engines' boolean flags); every other flag takes one.
_SWITCHES = frozenset(
    {
        "--init",
        "--privileged",
        "--read-only",
        "--rm",
        "-d",
        "--detach",
        "-i",
        "--interactive",
        "-t",
        "--tty",
        "-P",
        "--publish-all",
        "--no-healthcheck",
        "--oom-kill-disable",
        "--no-hosts",
        "--replace",
        "-q",
        "--quiet",
    }
)
# Flags the agent sets itself: from a task they would detach or rename the container, change
# what runs in it or where. Refused even when allowed.
_AGENTS = frozenset({"--name", "--rm", "-d", "--detach", "--entrypoint", "-w", "--workdir", "--pull"})
_ENV_FLAGS = ("-e", "--env")


class DockerArgsError(ValidationError):
    """A task's docker arguments ask for something this agent does not allow."""


def allow_list(flags: Iterable[str]) -> frozenset[str]:
    """The agent's allow-list: `SAFE` plus the operator's flags (`ipc` or `--ipc`; `all`)."""
    extra = {f if f.startswith("-") or f == ALL else ("--" if len(f) > 1 else "-") + f for f in flags}
    return SAFE | extra


def checked(text: str, allowed: frozenset[str]) -> list[str]:
    """The task's `docker_args` as `run` arguments, each flag checked against `allowed`."""
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise DockerArgsError(f"docker_args {text!r} cannot be split into arguments: {exc}") from exc
    if ALL in allowed:
        return tokens
    arguments: list[str] = []
    rest = list(tokens)
    while rest:
        token = rest.pop(0)
        for flag, value in _options(token, rest):
            _check(flag, value, allowed)
            arguments += [flag] if value is None else [flag, value]
    return arguments


def _options(token: str, rest: list[str]) -> list[tuple[str, str | None]]:
    """The flags in `token` with their values (taking the next token when a flag needs one)."""
    if not token.startswith("-") or token in ("-", "--"):
        raise DockerArgsError(
            f"docker_args: {token!r} is not an option; only options may be given (an image or a "
            "command there would replace the task's)"
        )
    if token.startswith("--"):
        flag, eq, value = token.partition("=")
        return [(flag, value if eq else _value(flag, rest))]
    found: list[tuple[str, str | None]] = []
    letters = token[1:]  # `-e value`, `-evalue`, `-e=value`; `-it`, `-itv /data:/data`
    for n, letter in enumerate(letters):
        flag, tail = f"-{letter}", letters[n + 1 :]
        if flag in _SWITCHES:
            found.append((flag, None))
            continue
        found.append((flag, tail.removeprefix("=") if tail else _value(flag, rest)))
        break  # the rest of the word was this flag's value
    return found


def _value(flag: str, rest: list[str]) -> str | None:
    if flag in _SWITCHES:
        return None
    if not rest:
        raise DockerArgsError(f"docker_args: {flag} needs a value")
    return rest.pop(0)


def _check(flag: str, value: str | None, allowed: frozenset[str]) -> None:
    if flag in _AGENTS:
        raise DockerArgsError(f"docker_args: {flag} is set by the agent itself and cannot come from a task")
    if flag not in allowed:
        raise DockerArgsError(
            f"docker_args: {flag} is not allowed on this agent (it allows "
            f"{', '.join(sorted(allowed))}; its operator can allow more with --docker-allow-arg)"
        )
    if flag in _ENV_FLAGS and (value or "").upper().startswith("DUCTWORK_"):
        raise DockerArgsError(
            f"docker_args: {flag} {value} would replace a variable the agent gives the task itself"
        )
    if flag in _ENV_FLAGS and "=" not in (value or ""):
        # `-e NAME` (or `-e 'AWS*'`) copies the agent machine's own variable: its secrets.
        raise DockerArgsError(f"docker_args: {flag} {value} needs a value (NAME=value)")
