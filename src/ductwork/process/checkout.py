"""Git checkouts: the one way ductwork clones a repository, for an agent (a task's
`script.repository`) and a local-mode pipeline step alike, and the checks of what it clones.

A repository is a URL of one of git's own transports (`https://`, `http://`, `ssh://`,
`git://`, `file://`), the scp form `user@host:path`, or a folder path. Anything else is
refused before git sees it: git's remote helpers (`ext::<command>` runs a command, `fd::`),
other schemes, a name starting with `-` (git would read an option) and control characters
(a NUL byte, a newline). Revisions (a commit, a branch) are checked the same way.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ductwork.core.errors import ValidationError
from ductwork.core.patterns import Pattern

SCHEMES = ("https", "http", "ssh", "git", "file", "git+ssh", "ssh+git")
_SCHEME = Pattern(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_HELPER = Pattern(r"^[A-Za-z0-9][A-Za-z0-9+.-]*::")  # <transport>::<address>
_SCP = Pattern(r"^(?:[A-Za-z0-9._~-]+@)?[A-Za-z0-9.-]+:(?!//)")  # [user@]host:path
_CONTROL = Pattern(r"[\x00-\x1f\x7f]")


class CodeError(ValidationError):
    """The task's code could not be reproduced (a bad repository, commit, diff or path)."""


def repository_url(value: object, what: str) -> str:
    """`value` as a repository git may be asked to clone; `what` names it in the error
    ("step 'train': repo")."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{what} must be a git URL or a folder path, not {value!r}")
    if _CONTROL.search(value):
        raise ValidationError(f"{what} {value!r} holds a control character (a NUL byte, a newline)")
    if value.startswith("-"):
        raise ValidationError(f"{what} {value!r} starts with '-' (git would read it as an option)")
    scheme = _SCHEME.match(value)
    if scheme is not None:
        if scheme.group(1).lower() not in SCHEMES:
            raise ValidationError(
                f"{what} {value!r}: unsupported URL scheme {scheme.group(1)!r} (one of {', '.join(SCHEMES)})"
            )
        return value
    if _HELPER.match(value):
        raise ValidationError(
            f"{what} {value!r}: git remote helpers ('<transport>::<address>', e.g. ext::) are refused; "
            f"give a URL ({', '.join(SCHEMES)}) or a folder path"
        )
    return value


def is_url(repository: str) -> bool:
    """A URL (or scp form) git clones over a transport; otherwise a folder path."""
    return bool(_SCHEME.match(repository) or (_SCP.match(repository) and not os.path.isabs(repository)))


def revision(value: object, what: str) -> str:
    """A commit or branch name that git may be asked to check out."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{what} must be a non-empty string, not {value!r}")
    if _CONTROL.search(value) or " " in value:
        raise ValidationError(f"{what} {value!r} holds a space or a control character (a NUL byte)")
    if value.startswith("-"):
        raise ValidationError(f"{what} {value!r} starts with '-' (git would read it as an option)")
    return value


def clone(repository: str, target: Path, rev: str | None = None, diff: str = "") -> Path:
    """Clone `repository` into `target` (a new folder), check out `rev` (a commit or branch)
    and apply the uncommitted `diff`. Raises `CodeError` naming what failed."""
    url = repository_url(repository, "repository")
    if not is_url(url) and not os.path.isdir(os.path.expanduser(url)):
        raise CodeError(
            f"cannot clone {url}: no such folder on this machine (a repository named by its path, "
            "as one without a remote is recorded, is cloned only where that path exists)"
        )
    git(["clone", "--quiet", "--", url, str(target)], target.parent, f"cannot clone {url}")
    if rev:
        checked = revision(rev, "revision")
        git(["checkout", "--quiet", checked, "--"], target, f"cannot check out {checked} of {url}")
    if diff.strip():
        patch = target.parent / "uncommitted.diff"
        patch.write_text(diff if diff.endswith("\n") else diff + "\n", encoding="utf-8")
        git(
            ["apply", "--whitespace=nowarn", str(patch)],
            target,
            "cannot apply the task's uncommitted diff (was its commit pushed?)",
        )
    return target


def git(args: list[str], cwd: Path, failure: str) -> str:
    """`git args` in `cwd` (made if missing); its output, or `CodeError(failure: git's words)`.
    Never prompts for credentials: there is nobody to answer."""
    cwd.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    try:
        result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False, env=env)
    except FileNotFoundError:
        raise CodeError(f"{failure}: git is not installed on this machine") from None
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        raise CodeError(f"{failure}: {detail}" if detail else failure)
    return result.stdout
