"""Folders to zip and archives back to folders, safely (zipfile, tarfile imported on use).

Zips are deterministic (sorted entries, a fixed timestamp), so the same folder content always
makes the same bytes and therefore the same content hash: uploads dedupe, cache keys hold.
Extraction refuses members that would land outside the target folder, and publishes the folder
with one rename, so a reader never sees a half-extracted tree.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

from ductwork.core.errors import StorageError

_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can say
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")


def _entries(folder: str) -> Iterator[tuple[str, str]]:
    """(absolute path, archive name) of every file and folder below `folder`, sorted.

    Symlinked files are stored as their content; symlinked folders are not followed (no cycles).
    """
    for current, dirs, files in os.walk(folder):
        dirs.sort()
        relative = os.path.relpath(current, folder)
        if relative != ".":
            yield current, relative.replace(os.sep, "/") + "/"
        for name in sorted(files):
            path = os.path.join(current, name)
            if os.path.isfile(path):
                yield path, os.path.relpath(path, folder).replace(os.sep, "/")


def zip_folder(folder: str, sink: BinaryIO) -> None:
    import zipfile

    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, name in _entries(folder):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            mode = os.stat(path).st_mode
            info.external_attr = (stat.S_IMODE(mode) | (stat.S_IFDIR if name.endswith("/") else 0)) << 16
            if name.endswith("/"):
                archive.writestr(info, b"")
                continue
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(path, "rb") as source, archive.open(info, "w", force_zip64=True) as target:
                shutil.copyfileobj(source, target, 1 << 20)


def folder_summary(folder: str) -> tuple[int, int]:
    """(number of files, total bytes) below `folder`."""
    count = total = 0
    for path, name in _entries(folder):
        if not name.endswith("/"):
            count += 1
            total += os.path.getsize(path)
    return count, total


def is_archive(path: str) -> bool:
    return path.lower().endswith(ARCHIVE_SUFFIXES)


def extract(archive_path: str, destination: str) -> str:
    """Extract a zip or tar archive into `destination` (created by one rename); returns it.

    If `destination` already exists it is taken as a previous, complete extraction.
    """
    import tarfile
    import zipfile

    if os.path.isdir(destination):
        return destination
    parent = os.path.dirname(destination)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".extracting-", dir=parent)
    try:
        if zipfile.is_zipfile(archive_path):
            _extract_zip(archive_path, staging)
        elif tarfile.is_tarfile(archive_path):
            _extract_tar(archive_path, staging)
        else:
            raise StorageError(f"{archive_path} is neither a zip nor a tar archive")
        try:
            os.rename(staging, destination)
        except OSError:
            if not os.path.isdir(destination):  # lost a race to an identical extraction: fine
                raise
            shutil.rmtree(staging, ignore_errors=True)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise StorageError(f"archive {archive_path} is damaged: {exc}") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return destination


def _inside(root: str, name: str) -> str:
    target = os.path.realpath(os.path.join(root, name))
    if os.path.isabs(name) or os.path.commonpath([root, target]) != root:
        raise StorageError(f"archive member {name!r} would be extracted outside its folder")
    return target


def _extract_zip(archive_path: str, staging: str) -> None:
    import zipfile

    root = os.path.realpath(staging)
    with zipfile.ZipFile(archive_path) as archive:
        for member in archive.infolist():
            target = _inside(root, member.filename)
            if member.is_dir():
                os.makedirs(target, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with archive.open(member) as source, open(target, "wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
            mode = (member.external_attr >> 16) & 0o777
            if mode:
                os.chmod(target, mode | stat.S_IRUSR | stat.S_IWUSR)


def _extract_tar(archive_path: str, staging: str) -> None:
    import tarfile

    root = os.path.realpath(staging)
    with tarfile.open(archive_path) as archive:
        members = archive.getmembers()
        for member in members:
            _inside(root, member.name)
            if member.issym() or member.islnk():
                _inside(root, os.path.join(os.path.dirname(member.name), member.linkname))
            if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
                raise StorageError(f"archive member {member.name!r} is a device or fifo: refused")
        if hasattr(tarfile, "data_filter"):
            archive.extractall(staging, members=members, filter="data")
        else:  # Python < 3.10.12: the checks above did the data filter's job
            archive.extractall(staging, members=members)
