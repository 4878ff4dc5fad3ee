"""The Python environment a task runs in.

By default each distinct set of requirements gets one `uv` virtual environment under
`$DUCTWORK_HOME/venvs/<hash>`, keyed by the requirements text and the Python version, built
once and reused by every later task with the same key (building is the slow part of a
remote run; reuse makes it free). ductwork itself comes from the agent's own install: a
`.pth` file appends the folders the agent imports ductwork and its dependencies from, after
the venv's own site-packages, so the task's pinned packages win and `import ductwork` works
without a download. `--same-env` skips all of this and uses the agent's interpreter.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import threading
from pathlib import Path
from typing import Any

from ductwork.core.errors import ValidationError

_build_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


class EnvironmentBuildError(ValidationError):
    """The task's environment could not be built (a bad requirement, no `uv`)."""


def requirements_text(requirements: dict[str, Any]) -> str:
    """The task's pip requirements, one per line, normalised (order and blanks do not matter)."""
    pip = requirements.get("pip") or ""
    lines = pip if isinstance(pip, list) else str(pip).splitlines()
    wanted = {line.strip() for line in lines if line.strip() and not line.strip().startswith("#")}
    # ductwork comes from the agent; a pinned copy from an index would shadow it.
    return "\n".join(sorted(r for r in wanted if not _is_ductwork(r)))


def environment_key(requirements: dict[str, Any], python: str = sys.executable) -> str:
    version = f"{sys.version_info.major}.{sys.version_info.minor}" if python == sys.executable else python
    digest = hashlib.sha256(f"{version}\n{requirements_text(requirements)}".encode()).hexdigest()
    return digest[:20]


def same_env_python() -> str:
    return sys.executable


def venv_python(requirements: dict[str, Any], root: Path, log: Any = print) -> str:
    """The interpreter of the venv for `requirements` under `root`, built on first use.

    Builds happen in a temporary folder renamed into place, so a crashed build is never
    reused and two agents building the same key at once both end with a complete venv."""
    key = environment_key(requirements)
    target = root / key
    python = _python_in(target)
    if python.exists():
        return str(python)
    with _lock_for(key):
        if python.exists():
            return str(python)
        uv = _uv()
        root.mkdir(parents=True, exist_ok=True)
        building = root / f".{key}.{os.getpid()}.{threading.get_ident()}"
        shutil.rmtree(building, ignore_errors=True)
        log(f"building environment {key} with uv")
        _run([uv, "venv", "--quiet", "--python", sys.executable, str(building)], "create the venv")
        _link_ductwork(building)
        wanted = requirements_text(requirements)
        if wanted:
            listing = building / "requirements.txt"
            listing.write_text(wanted + "\n", encoding="utf-8")
            _run(
                [uv, "pip", "install", "--quiet", "--python", str(_python_in(building)), "-r", str(listing)],
                "install the task's requirements",
            )
        try:
            building.rename(target)
        except OSError:  # another agent finished the same key first: use theirs
            shutil.rmtree(building, ignore_errors=True)
        return str(_python_in(target))


def _link_ductwork(venv: Path) -> None:
    """Make the agent's ductwork (and its dependencies) importable in `venv`, last on the path."""
    import ductwork

    package_root = str(Path(ductwork.__file__).resolve().parent.parent)
    purelib = sysconfig.get_paths()["purelib"]
    platlib = sysconfig.get_paths()["platlib"]
    folders = list(dict.fromkeys([package_root, purelib, platlib]))
    site = _site_packages(venv)
    (site / "zz_ductwork_agent.pth").write_text("\n".join(folders) + "\n", encoding="utf-8")


def _site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python*/site-packages")) or sorted(venv.glob("Lib/site-packages"))
    if not found:
        raise EnvironmentBuildError(f"the new venv {venv} has no site-packages folder")
    return found[0]


def _python_in(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _uv() -> str:
    found = shutil.which("uv")
    if found:
        return found
    try:
        from uv import find_uv_bin  # the PyPI package ships the binary

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError) as exc:
        raise EnvironmentBuildError(
            "the agent needs `uv` to build task environments (pip install uv), or run it with --same-env"
        ) from exc


def _run(argv: list[str], what: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip()
        raise EnvironmentBuildError(f"could not {what}: {detail}")


def _lock_for(key: str) -> threading.Lock:
    with _locks_guard:
        return _build_locks.setdefault(key, threading.Lock())


def _is_ductwork(requirement: str) -> bool:
    name = requirement.split(";")[0].strip()
    for sep in ("=", "<", ">", "~", "!", "[", " ", "@"):
        name = name.split(sep)[0]
    return name.lower().replace("_", "-") == "ductwork"
