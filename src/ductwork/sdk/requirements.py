"""Packages a task must have, added by `Task.add_requirements` before `Task.init`.

They are kept for the process (as ClearML keeps them on the Task class) and recorded as the
`requirements.pip` of every task `Task.init` creates afterwards, which is the environment an
agent builds to run it again.

Where ClearML evaluates a requirements file's environment markers on this machine and drops
the lines that do not apply here, the lines keep their markers: the machine that builds the
environment is the one that should judge them.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from ductwork.core import settings
from ductwork.core.errors import ValidationError
from ductwork.core.patterns import Pattern
from ductwork.sdk import current

_log = logging.getLogger("ductwork.sdk")

# PEP 508 names, with optional extras: "torch", "ray[tune,serve]".
_NAME = Pattern(r"^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])(\[[A-Za-z0-9._,\s-]*\])?$")
_CLAUSE = Pattern(r"^(===|~=|==|!=|<=|>=|<|>)\s*[A-Za-z0-9.*+!_-]+$")

# name -> the version part of its line ("" for any version); insertion ordered.
_forced: dict[str, str] = {}


def add(package_name: str, package_version: str | None = None) -> None:
    """Require `package_name` (or every line of the requirements file at that path).

    `package_version`: None for the version installed here (any version if it is not
    installed), "" for any version, "2.4.0" for exactly that one, ">=2.4" for a specifier."""
    if not isinstance(package_name, str) or not package_name.strip():
        raise ValidationError(
            f"Task.add_requirements: package_name must be a package name, got {package_name!r}"
        )
    if package_version is not None and not isinstance(package_version, str):
        kind = type(package_version).__name__
        raise ValidationError(f"Task.add_requirements: package_version must be a str or None, got {kind}")
    if current.get() is not None and not settings.task_id():
        # As in ClearML: the running task recorded its requirements when it started.
        _log.warning(
            "Task.add_requirements(%r) ignored by the running task: call it before Task.init()", package_name
        )
    if Path(package_name).is_file():
        _forced.update(_file_lines(Path(package_name)))
        return
    name = package_name.strip()
    if not _NAME.match(name):
        raise ValidationError(f"Task.add_requirements: {package_name!r} is neither a package name nor a file")
    _forced[name] = _version_part(name, package_version)


def recorded() -> dict[str, str]:
    """The `requirements` part of a task created now: {"pip": lines} ({} when none were added)."""
    if not _forced:
        return {}
    return {"pip": "".join(f"{name}{version}\n" for name, version in _forced.items())}


def clear() -> None:
    """Forget the added requirements (for tests and long-lived processes)."""
    _forced.clear()


def _version_part(name: str, version: str | None) -> str:
    if version is None:
        installed = _installed_version(name)
        return f"=={installed}" if installed else ""
    text = version.strip()
    if not text:
        return ""
    if text[0].isdigit():
        text = f"=={text}"
    clauses = [clause.strip() for clause in text.split(",")]
    if not all(_CLAUSE.match(clause) for clause in clauses):
        raise ValidationError(
            f"Task.add_requirements: {version!r} is not a version or version specifier for {name}"
        )
    return ",".join(clauses)


def _installed_version(name: str) -> str | None:
    from importlib import metadata  # here, not at import: it pulls in email and zipfile (~10 ms)

    try:
        return metadata.version(name.split("[", 1)[0])
    except metadata.PackageNotFoundError:
        return None


def _file_lines(path: Path) -> dict[str, str]:
    """The requirements in a pip requirements file: name -> the rest of its line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ValidationError(
            f"Task.add_requirements: cannot read requirements file {str(path)!r}: {error}"
        ) from None
    found: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        split = re.search(r"[\s<>=!~;@]", line)
        name = line[: split.start()] if split else line
        if line.startswith("-") or not _NAME.match(name):
            raise ValidationError(
                f"Task.add_requirements: {path}:{number}: {raw.strip()!r} is not a package requirement"
            )
        found[name] = line[len(name) :]
    return found
