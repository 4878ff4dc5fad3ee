"""A function step's repository (`add_function_step(repo=, repo_branch=, repo_commit=)`,
`@PipelineDecorator.component(repo=...)`): the step runs inside it, so its code imports the
repository's modules and reads its files by relative path.

`repo` is read when the step is defined, so a bad one is refused before the pipeline creates
anything (`step_repository`):

* a git URL is cloned (once per commit and process, into a temporary folder) at `repo_commit`,
  else at the commit the tip of `repo_branch` (else of the default branch) has when the step is
  defined, and that commit is pinned: every attempt and every agent of the run runs it. Unlike
  ClearML, whose agents check out whatever the branch has when each step starts, a run never
  mixes commits, and the step can be cached (ClearML never caches a branch without a commit).
* a folder path (a local clone, or a folder inside one) is recorded as ClearML records it: the
  clone's remote URL (`origin`, else its only remote), its current branch and commit, and its
  uncommitted changes as a diff an agent applies. A clone without a remote is recorded by its
  absolute path, with a warning: only machines that see that path can clone it; an agent that
  cannot says so naming the path; a commit on no branch of the remote is warned of too.
  `repo_branch` / `repo_commit` other than what the clone has checked out are cloned from the
  folder like a URL. On a machine without the folder (a controller rerun on an agent), it is
  refused naming the folder: give the URL there.
* a rerun from the stored DAG (resume, a clone of a stored run) reads the repository and the
  pinned commit from the step's stored code (`CODE_REPOSITORY`) and clones them again.

Where the step runs inside it, at the repository root plus the step's `working_dir` (relative to
that root), with the root first on `sys.path`:

* remote (an agent): the agent clones the recorded repository into the task's own folder, as for
  any task with `script.repository` (`agent.workspace`).
* local (a process per step): a folder path runs in that clone itself, uncommitted changes and
  all, as the user sees it; a URL runs in a fresh clone of the pinned commit per attempt (as on
  an agent: what one step writes there, another does not see), removed when the step ends.
* debug (steps called in this process): the call runs with the process's working folder changed
  to the checkout (the clone itself, or the one made when the step was defined) and its root
  first on `sys.path`, both restored when the call returns. The working folder belongs to the
  whole process, so calls of steps with a repository take turns (one at a time), and anything
  else running in this process meanwhile (another step, the pipeline function) sees that folder
  too. The call imports the repository's own modules (its top-level `*.py` files and
  packages): modules of those names imported before (from elsewhere, or another repository)
  are set aside for the call and put back after it, and the ones it imported are forgotten, so
  each step gets its own repository's `helpers`. Use local mode where steps must not share a
  process.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import hashlib
import os
import shutil
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ductwork.core import launch
from ductwork.core.errors import ValidationError
from ductwork.process import checkout
from ductwork.process.checkout import CodeError


@dataclass(frozen=True)
class StepRepository:
    """Where a function step's code lives: what its task records, and a checkout here."""

    url: str  # what the task records and an agent clones: a git URL, or a clone's path
    commit: str
    branch: str | None
    root: str  # a checkout of `commit` on this machine
    own: bool  # `root` is the user's clone, used as it is (never cloned again here)
    diff: str = ""  # the user's clone's uncommitted changes, for agents

    def script_part(self) -> dict[str, Any]:
        """The task's `script` fields an agent clones by."""
        part: dict[str, Any] = {"repository": self.url, "commit": self.commit}
        if self.branch:
            part["branch"] = self.branch
        if self.diff:
            part["diff"] = self.diff
        return part


def step_repository(
    step: str, repo: object, branch: object = None, commit: object = None
) -> StepRepository | None:
    """The repository a step was given, checked and pinned (None when it was given none)."""
    owner = f"step {step!r}"
    if repo is None or repo == "" or repo is False:  # ClearML's "no repository"
        if branch is not None or commit is not None:
            raise ValidationError(f"{owner}: repo_branch / repo_commit need repo (the repository)")
        return None
    url = checkout.repository_url(repo, f"{owner}: repo")
    rev_branch = None if branch is None else checkout.revision(branch, f"{owner}: repo_branch")
    rev_commit = None if commit is None else checkout.revision(commit, f"{owner}: repo_commit")
    try:
        if checkout.is_url(url):
            return _cloned(url, url, rev_branch, rev_commit)
        return _from_folder(owner, url, rev_branch, rev_commit)
    except CodeError as exc:
        raise ValidationError(f"{owner}: {exc}") from None


def working_folder(step: str, repository: StepRepository | None, working_dir: str | None) -> str | None:
    """A step's `working_dir` (already checked as any folder): with a repository, a folder
    relative to its root, which exists there."""
    if repository is None or working_dir is None:
        return working_dir
    folder = working_dir
    if os.path.isabs(folder):
        raise ValidationError(
            f"step {step!r}: working_dir {working_dir!r} must be relative to the root of its repo "
            f"{repository.url} (e.g. 'src' or '.'), not a folder of this machine"
        )
    if not os.path.isdir(os.path.join(repository.root, folder)):
        raise ValidationError(
            f"step {step!r}: working_dir {working_dir!r} is not a folder of repo {repository.url} "
            f"at commit {repository.commit[:12]}"
        )
    return folder


def step_checkout(repository: StepRepository, folder: str) -> str:
    """Local mode: where one attempt of the step runs (a fresh clone inside its own `folder`,
    or the user's clone itself)."""
    if repository.own:
        return repository.root
    return str(checkout.clone(repository.root, Path(folder) / "repo", repository.commit))


_turns = threading.RLock()  # debug mode: the working folder is the whole process's


def inside(
    repository: StepRepository | None, working_dir: str | None
) -> contextlib.AbstractContextManager[None]:
    """Debug mode: a step's call with the working folder in its checkout and its root first on
    `sys.path`, both restored afterwards; one such call at a time (see the module's notes)."""
    return _NOWHERE if repository is None else _inside(repository, working_dir)


_NOWHERE = contextlib.nullcontext()  # a step without `repo=` (most): runs where it is


@contextlib.contextmanager
def _inside(repository: StepRepository, working_dir: str | None) -> Iterator[None]:
    with _turns:
        before = os.getcwd()
        names = _top_modules(repository.root)
        stashed = _forget(names)  # the call imports the repository's own `helpers`, not another's
        os.chdir(os.path.join(repository.root, working_dir or launch.HERE))
        sys.path.insert(0, repository.root)
        try:
            yield
        finally:
            os.chdir(before)
            with contextlib.suppress(ValueError):
                sys.path.remove(repository.root)
            _forget(names)
            sys.modules.update(stashed)


def _top_modules(root: str) -> set[str]:
    """The top-level modules a checkout provides: its `*.py` files and package folders."""
    names: set[str] = set()
    with contextlib.suppress(OSError):
        for entry in os.scandir(root):
            if entry.is_file() and entry.name.endswith(".py"):
                names.add(entry.name[:-3])
            elif entry.is_dir() and os.path.isfile(os.path.join(entry.path, "__init__.py")):
                names.add(entry.name)
    return names


def _forget(names: set[str]) -> dict[str, Any]:
    """Take the modules named `names` (and their submodules) out of `sys.modules`; answers them."""
    taken = {name: module for name, module in sys.modules.items() if name.split(".")[0] in names}
    for name in taken:
        del sys.modules[name]
    return taken


# ---- reading what was given


def _from_folder(owner: str, path: str, branch: str | None, commit: str | None) -> StepRepository:
    folder = Path(path).expanduser().resolve()
    if not folder.is_dir():
        raise ValidationError(f"{owner}: repo {path!r} is neither a git URL nor a folder on this machine")
    root = _git(folder, "rev-parse", "--show-toplevel", failure=f"repo {path!r} is not inside a git clone")
    head = _git(Path(root), "rev-parse", "--verify", "HEAD", failure=f"repo {root} has no commit yet")
    current = _git(Path(root), "rev-parse", "--abbrev-ref", "HEAD", failure=f"repo {root}")
    current_branch = None if current == "HEAD" else current  # a detached checkout has none
    url = _remote(owner, Path(root))
    wanted = commit or branch
    if wanted is not None and _commit_of(Path(root), wanted) != head:
        return _cloned(root, url, branch, commit)  # another revision than the clone has
    if url != root and not _git(Path(root), "branch", "-r", "--contains", head, failure=f"repo {root}"):
        warnings.warn(
            f"{owner}: commit {head[:12]} of repo {root} is on no branch of its remote {url} (as last "
            "fetched): push it, or agents cannot check it out (local and debug runs use the clone)",
            UserWarning,
            stacklevel=4,
        )
    diff = _git(Path(root), "diff", "--binary", "HEAD", failure=f"repo {root}", strip=False)
    return StepRepository(url, head, branch or current_branch, root, own=True, diff=diff)


def _remote(owner: str, root: Path) -> str:
    """The URL agents clone: the remote `origin`, else the only remote, else this path."""
    remotes = _git(root, "remote", failure=f"repo {root}").split()
    name = "origin" if "origin" in remotes else remotes[0] if len(remotes) == 1 else None
    if name is not None:
        url = _git(root, "remote", "get-url", name, failure=f"repo {root}")
        return checkout.repository_url(url, f"{owner}: the remote {name!r} of repo {root}")
    warnings.warn(
        f"{owner}: repo {root} has no remote ({'several' if remotes else 'none'} named origin); "
        "its steps record its path, so only machines that see that path can clone it "
        "(an agent that cannot says so). Add a remote and push, or pass repo=<git URL>.",
        UserWarning,
        stacklevel=4,
    )
    return str(root)


_clones: dict[tuple[str, str], StepRepository] = {}
_clones_lock = threading.Lock()
_folder: list[str] = []  # this process's folder of clones, removed at exit


def _cloned(source: str, url: str, branch: str | None, commit: str | None) -> StepRepository:
    """`source` cloned here at `commit`, else at the tip `branch` (or its default branch) has
    now: the commit every attempt of the run runs. One clone per commit and process; a branch
    is looked up again each time (a long-lived process defining the pipeline again gets the
    branch's new commits)."""
    pinned = commit or _tip(source, branch)
    key = (source, pinned)
    with _clones_lock:
        known = _clones.get(key)
        if known is not None and os.path.isdir(known.root):
            return dataclasses.replace(known, url=url, branch=branch)
        digest = hashlib.sha256(repr(key).encode()).hexdigest()[:16]
        target = Path(_clones_folder()) / digest
        shutil.rmtree(target, ignore_errors=True)
        checkout.clone(source, target, pinned)
        head = _git(target, "rev-parse", "--verify", "HEAD", failure=f"repo {source}")
        made = StepRepository(url, head, branch, str(target), own=False)
        _clones[key] = made
        return made


def _tip(source: str, branch: str | None) -> str:
    """The commit `branch` (None: the default branch) of `source` has now, asked of the
    repository itself (no clone)."""
    ref = f"refs/heads/{branch}" if branch else "HEAD"
    listed = _git(Path(_clones_folder()), "ls-remote", source, ref, failure=f"cannot clone {source}")
    for line in listed.splitlines():
        sha, _, name = line.partition("\t")
        if name == ref:
            return sha
    raise CodeError(f"cannot check out {branch or 'the default branch'} of {source}: no such branch")


def _clones_folder() -> str:
    if not _folder:
        _folder.append(tempfile.mkdtemp(prefix="ductwork-repos-"))
        atexit.register(shutil.rmtree, _folder[0], True)
    return _folder[0]


def _commit_of(root: Path, rev: str) -> str:
    return _git(
        root,
        "rev-parse",
        "--verify",
        "--quiet",
        f"{rev}^{{commit}}",
        failure=f"repo {root}: no revision {rev!r}",
    )


def _git(folder: Path, *args: str, failure: str, strip: bool = True) -> str:
    out = checkout.git(list(args), folder, failure)
    return out.strip() if strip else out
