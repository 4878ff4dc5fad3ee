"""What a script task records so it can run again elsewhere: entry point, code, git state.

The git part runs `git` in a background upload job (a few subprocesses, tens of milliseconds), so
`Task.init` does not wait for it.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

from ductwork.core import launch, syntax
from ductwork.core.errors import ValidationError

MAX_CODE_BYTES = 2 * 1024 * 1024
INIT_CALL = "from ductwork import Task\nTask.init()\n"


def entry_script() -> Path | None:
    """The script this process runs (None for `python -c`, a REPL or a notebook)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv and sys.argv[0] else None)
    if not path or path in ("-c", "-m"):
        return None
    candidate = Path(path).resolve()
    return candidate if candidate.is_file() else None


def user_script() -> Path | None:
    """The entry script when it is the user's own file, which can run again elsewhere to rebuild
    what it made; None for `python -c`, a REPL, a notebook, or a program of an installed package
    (`ductwork demo`, `pytest`, a console script): running that again does something else."""
    path = entry_script()
    return None if path is None or is_installed(path) else path


def is_installed(path: str | Path) -> bool:
    """Whether the file at `path` is installed code, which every machine with the same
    packages has: under the standard library, site-packages, the environment's scripts, or
    ductwork's own package (an editable install lives outside site-packages)."""
    resolved = Path(path).resolve()
    return any(resolved.is_relative_to(folder) for folder in _installed_folders())


def _installed_folders() -> list[Path]:
    names = ("stdlib", "platstdlib", "purelib", "platlib", "scripts")
    folders = {Path(sysconfig.get_paths()[name]).resolve() for name in names}
    folders |= {Path(prefix).resolve() / "bin" for prefix in (sys.prefix, sys.base_prefix)}
    folders.add(Path(__file__).resolve().parent.parent)
    return sorted(folders)


# `Task.force_store_standalone_script`: the tasks `Task.init` creates from now on record the
# script's code alone, with nothing of the git repository holding it.
_standalone = [False]


def store_standalone(force: bool) -> None:
    if not isinstance(force, bool):
        raise ValidationError(f"force_store_standalone_script: force must be a bool, got {force!r}")
    _standalone[0] = force


def standalone() -> bool:
    return _standalone[0]


def describe_running() -> dict[str, object]:
    """The script part of a task created by `Task.init` in this process."""
    binary = os.path.basename(sys.executable) or "python3"
    script: dict[str, object] = {"binary": binary, "argv": sys.argv[1:]}
    path = entry_script()
    if path is None:
        return script
    script["entry_point"] = path.name
    # A standalone script runs in the folder its code is written to, with no checkout around it.
    script["working_dir"] = launch.HERE if standalone() else folder_in_repository(path)
    code = read_code(path)
    if code is not None:
        script["code"] = code
    return script


def code_folder() -> str | None:
    """The folder of the script this process runs, on this machine (None when there is none)."""
    path = entry_script()
    return None if path is None else str(path.parent)


def folder_in_repository(path: str | Path) -> str:
    """The folder of the script at `path` relative to the root of the git repository holding it
    (`"."` at the root, or outside any repository): what `script.working_dir` records, so the
    task runs from the same place in a checkout on any machine."""
    folder = Path(path).resolve().parent
    root = _repository_root(folder)
    return "." if root is None else folder.relative_to(root).as_posix()


def read_code(path: Path) -> str | None:
    try:
        if path.stat().st_size > MAX_CODE_BYTES:
            return None
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


_git_cache: dict[str, dict[str, object]] = {}


def git_state(folder: str) -> dict[str, object]:
    """Remote, branch, commit and uncommitted diff of the repository holding `folder` ({} if none).

    Read once per folder per process: later tasks of the same process run the same code."""
    cached = _git_cache.get(folder)
    if cached is None:
        cached = _git_cache[folder] = _read_git(folder) if _inside_git(Path(folder)) else {}
    return dict(cached)


def _read_git(folder: str) -> dict[str, object]:
    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=folder, capture_output=True, text=True, timeout=10, check=False
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    try:
        commit, _, branch = git("rev-parse", "HEAD", "--abbrev-ref", "HEAD").partition("\n")
        state = {
            "repository": git("config", "--get", "remote.origin.url"),
            "branch": branch,
            "commit": commit,
            "diff": git("diff", "HEAD") if commit else "",
        }
    except (OSError, subprocess.SubprocessError):
        return {}
    return {key: value for key, value in state.items() if value}


def _inside_git(folder: Path) -> bool:
    return _repository_root(folder) is not None


def _repository_root(folder: Path) -> Path | None:
    return next((parent for parent in (folder, *folder.parents) if (parent / ".git").exists()), None)


def from_file(script: str, add_task_init_call: bool) -> dict[str, object]:
    """The script part of `Task.create(script=...)`: the file's content, entry point and folder."""
    path = Path(script).expanduser()
    if not path.is_file():
        raise ValidationError(f"Task.create: script {script!r} is not a file")
    code = read_code(path)
    if code is None:
        raise ValidationError(f"Task.create: script {script!r} is not readable UTF-8 text under 2 MB")
    if add_task_init_call and path.suffix == ".py":
        code = with_init_call(code)
    # The script runs in its own folder wherever it lands (where its code is written), not in
    # the folder it was read from on this machine.
    return {"entry_point": path.name, "working_dir": launch.HERE, "code": code}


def with_init_call(code: str) -> str:
    """`code` with `Task.init()` inserted after its docstring and `__future__` imports (once)."""
    if "Task.init(" in code:
        return code
    try:
        body = syntax.parse(code).body
    except SyntaxError:
        return INIT_CALL + code
    line = 0
    for node in body:
        is_doc = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and node is body[0]
        is_future = isinstance(node, ast.ImportFrom) and node.module == "__future__"
        if not (is_doc or is_future):
            break
        line = node.end_lineno or node.lineno
    lines = code.splitlines(keepends=True)
    if line == 0:
        # keep a shebang / encoding comment first
        while line < len(lines) and lines[line].startswith("#") and line < 2:
            line += 1
    return "".join(lines[:line]) + INIT_CALL + "".join(lines[line:])
