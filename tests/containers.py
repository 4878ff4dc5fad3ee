"""Container images for docker-mode tests, built here: nothing can be pulled from a registry.

An image is a root filesystem `podman import`ed from a tar of this machine's own files: bash,
a few coreutils, this Python (its standard library without tests, the few packages a step
needs over HTTP), ductwork's `src/`, and the libraries `ldd` names for all of them. Each image
has `/etc/ductwork-image` saying which one it is, a file no host has. Two images are built:
the agent's default (`default`) and a step's own (`step`, the default plus one file).

Built once and cached by a tag that hashes everything that goes in (ductwork's source
included), so a test session builds them at most once and later sessions reuse them.

    images = built_images()             # fails loudly when podman cannot run containers
    images.default, images.step        # image names
    RUN_ARGS                           # `run` arguments this sandbox needs (its rlimits)
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import io
import os
import py_compile
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "ductwork"
REPOSITORY = "localhost/ductwork-test"
# The sandbox refuses raising rlimits: every container gets the host's own.
RUN_ARGS = "--ulimit nofile=20000:20000 --ulimit nproc=4096:4096"
TOOLS = ("bash", "sh", "cat", "echo", "ls", "sleep", "env", "mkdir", "rm", "touch", "id", "head")
# What a function step imports over HTTP, besides the standard library and ductwork.
PACKAGES = ("httpx", "httpcore", "h11", "anyio", "sniffio", "idna", "certifi", "typing_extensions")
_SKIP = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "site-packages"}
_UNUSED = ("_tkinter", "_test", "xx", "_ctypes_test")  # extension modules no step imports (Tk, tests)
_UNCHECKED = py_compile.PycInvalidationMode.UNCHECKED_HASH
_PYC = f".{sys.implementation.cache_tag}.pyc"  # compiled modules (not the -O ones): a fast start


@dataclass(frozen=True)
class Images:
    default: str
    step: str


def podman() -> str:
    """podman, able to run a container here; pytest.fail (never skip) when it is not."""
    path = shutil.which("podman")
    if path is None:
        pytest.fail("docker-mode tests need podman and runc (apt-get install -y podman runc)", pytrace=False)
    return path


@functools.cache
def built_images() -> Images:
    """The two test images, built on first use (per process) unless already stored."""
    engine = podman()
    files = _files()
    tag = _digest(files)
    images = Images(f"{REPOSITORY}:default-{tag}", f"{REPOSITORY}:step-{tag}")
    # One build at a time on this host (pytest-xdist workers, sessions side by side).
    with open(Path(tempfile.gettempdir()) / "ductwork-test-images.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _exists(engine, images.step):
            _prune(engine, keep=tag)
            with tempfile.TemporaryDirectory(prefix="ductwork-image-") as folder:
                _build(engine, files, Path(folder), images)
    return images


def _python_files() -> list[Path]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    site = Path(sysconfig.get_paths()["purelib"])
    found = [Path(os.path.realpath(sys.executable))]
    for folder, subfolders, names in os.walk(stdlib):
        subfolders[:] = [s for s in subfolders if s not in _SKIP and not s.startswith("config-")]
        found += [Path(folder, name) for name in names if not name.startswith(_UNUSED)]
    for package in PACKAGES:
        single = site / f"{package}.py"
        found += (
            [single, *site.glob(f"__pycache__/{package}.*")]
            if single.exists()
            else (site / package).rglob("*")
        )
    return [p for p in found if p.is_file() and ("__pycache__" not in p.parts or p.name.endswith(_PYC))]


def _files() -> list[Path]:
    """Every host file the image holds (its libraries found by `ldd`)."""
    tools = [_real_folder(shutil.which(tool) or f"/bin/{tool}") for tool in TOOLS]
    files = [*tools, *_python_files()]
    binaries = [str(p) for p in files if p.suffix == ".so" or p in tools or p.name.startswith("python")]
    libraries: set[Path] = set()
    for chunk in range(0, len(binaries), 200):
        listing = subprocess.run(["ldd", *binaries[chunk : chunk + 200]], capture_output=True, text=True)
        for line in listing.stdout.splitlines():
            for word in line.split():
                if word.startswith("/") and os.path.exists(word):
                    libraries.add(_real_folder(word))
    return sorted(set(files) | libraries)


def _real_folder(path: str) -> Path:
    """`path` in its folder's real place (/bin/sh -> /usr/bin/sh: the image merges /usr as
    Debian does), keeping its own name (sh stays sh, a library its soname)."""
    return Path(os.path.realpath(os.path.dirname(path)), os.path.basename(path))


def _digest(files: list[Path]) -> str:
    """A tag for everything the image holds: the host's files by name, size and time,
    ductwork's source and this recipe by content."""
    digest = hashlib.sha256()
    for path in files:
        stat = path.stat()
        digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    for path in [Path(__file__), *sorted(SRC.rglob("*.py"))]:  # this recipe too
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _exists(engine: str, image: str) -> bool:
    return subprocess.run([engine, "image", "exists", image], capture_output=True).returncode == 0


def _prune(engine: str, keep: str) -> None:
    """Remove test images of other sources (each build's tag differs)."""
    listing = subprocess.run(
        [engine, "images", "--format", "{{.Repository}}:{{.Tag}}", REPOSITORY], capture_output=True, text=True
    )
    old = [name for name in listing.stdout.split() if name.startswith(REPOSITORY) and keep not in name]
    if old:
        subprocess.run([engine, "rmi", "--force", *old], capture_output=True)


def _build(engine: str, files: list[Path], folder: Path, images: Images) -> None:
    site = sysconfig.get_paths()["purelib"].lstrip("/")
    with tarfile.open(folder / "root.tar", "w", dereference=True) as tar:
        for link in ("bin", "lib", "lib64", "sbin"):
            _link(tar, link, f"usr/{link}")
        for path in files:
            tar.add(path, arcname=str(path).lstrip("/"), recursive=False)
        for source in sorted(SRC.rglob("*")):
            if source.is_file() and "__pycache__" not in source.parts:
                target = f"{site}/ductwork/{source.relative_to(SRC)}"
                tar.add(source, arcname=target, recursive=False)
                if source.suffix == ".py":
                    _compiled(tar, source, target, folder / "module.pyc")
        _extra(tar, "usr/bin/python3", f'#!/bin/sh\nexec {os.path.realpath(sys.executable)} "$@"\n', 0o755)
        _extra(tar, "etc/passwd", "root:x:0:0:root:/root:/bin/bash\n")
        _extra(tar, "etc/group", "root:x:0:\n")
        _extra(tar, "etc/ductwork-image", "default\n")
        for empty in ("tmp", "root", "proc", "sys", "dev", "run"):
            _folder(tar, empty, 0o1777 if empty == "tmp" else 0o755)
    _run([engine, "import", "--quiet", str(folder / "root.tar"), images.default])
    (folder / "marker").write_text("step\n")
    (folder / "Containerfile").write_text(f"FROM {images.default}\nCOPY marker /etc/ductwork-image\n")
    _run([engine, "build", "--quiet", "--pull=never", "--tag", images.step, str(folder)])


def _extra(tar: tarfile.TarFile, name: str, text: str, mode: int = 0o644) -> None:
    data = text.encode()
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    tar.addfile(info, io.BytesIO(data))


def _compiled(tar: tarfile.TarFile, source: Path, target: str, scratch: Path) -> None:
    """The module compiled (valid whatever its file's time), where the image's Python looks."""
    py_compile.compile(str(source), cfile=str(scratch), doraise=True, invalidation_mode=_UNCHECKED)
    parent, name = os.path.split(target)
    tar.add(scratch, arcname=f"{parent}/__pycache__/{name[:-3]}{_PYC}", recursive=False)


def _link(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    tar.addfile(info)


def _folder(tar: tarfile.TarFile, name: str, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.mode = tarfile.DIRTYPE, mode
    tar.addfile(info)


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(argv)} failed: {done.stderr.strip()}", pytrace=False)


def remove_containers(label: str) -> None:
    """Remove every container with `label` (a failed test's leftovers), running or not."""
    engine = podman()
    listing = subprocess.run(
        [engine, "ps", "--all", "--filter", f"label={label}", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
    )
    if listing.stdout.split():
        subprocess.run([engine, "rm", "--force", "--time", "0", *listing.stdout.split()], capture_output=True)
