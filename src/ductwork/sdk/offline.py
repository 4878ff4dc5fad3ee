"""Offline mode: `Task.init` with no backend reachable, its session kept in a folder for later.

`Task.set_offline(True)` before `Task.init`: the task then runs against a session backend
instead of the server or the home's store. Every write the Task API makes (the task, its
parameters and configuration, console lines, metrics, artifacts, models) is appended to
`journal.jsonl` in the session folder, `$DUCTWORK_HOME/cache/offline/<task id>/`, one JSON
line per write, flushed and synced as it is written: a crash loses nothing already written,
and a torn last line is all it can leave. Artifact and model files go to the session's `data/`
folder. Reads are answered by a scratch store in a temporary folder, deleted at the end. When
the task ends, the folder is also zipped next to itself. `Task.import_offline_session`
(`offline_import`) replays the journal into the backend of the day.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import cast

from ductwork.client.contract import Backend
from ductwork.client.pipe import encode
from ductwork.core import settings
from ductwork.core.errors import StatusError, ValidationError
from ductwork.core.records import TaskRecord
from ductwork.core.states import TaskStatus
from ductwork.sdk.capture.console import original_stdout

JOURNAL = "journal.jsonl"
DATA = "data"
ENV = "DUCTWORK_OFFLINE_MODE"
# Backend methods that change something: each call is a journal line.
WRITES = frozenset(
    {
        "ensure_project",
        "create_task",
        "edit_task",
        "set_status",
        "reset_task",
        "set_parameters",
        "set_configuration",
        "put_artifact",
        "delete_artifact",
        "put_model",
        "attach_model",
        "rename_model_link",
        "add_events",
        "add_console",
    }
)
ENDED = frozenset({TaskStatus.completed.value, TaskStatus.failed.value, TaskStatus.stopped.value})

_offline = False


def set_offline(offline_mode: bool, task_open: bool) -> None:
    """Switch offline mode for the `Task.init` calls that follow (not under an agent, whose
    task lives on its server). Going back online while an offline task is open is refused."""
    global _offline
    if not isinstance(offline_mode, bool):
        raise ValidationError(
            f"Task.set_offline: offline_mode must be a bool, got {type(offline_mode).__name__}"
        )
    if settings.task_id() or offline_mode == is_offline():
        return
    if not offline_mode and task_open:
        raise StatusError("Task.set_offline(False): the offline task is still open; close it first")
    _offline = offline_mode
    if offline_mode:
        os.environ[ENV] = "1"
    else:
        os.environ.pop(ENV, None)
        from ductwork import client

        client.use(None)  # the session backend ends; the next call opens the usual one


def is_offline() -> bool:
    return _offline or os.environ.get(ENV, "") not in ("", "0")


def sessions_folder() -> Path:
    return settings.home() / "cache" / "offline"


class Journal:
    """Append-only JSON lines, each written whole, flushed and synced before the call returns."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("ab")
        self._lock = threading.Lock()

    def write(self, entry: dict[str, object]) -> None:
        line = json.dumps(encode(entry), separators=(",", ":"), default=str).encode() + b"\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        with self._lock:
            self._file.close()


class SessionBackend:
    """A Backend that journals every write (see the module doc) and reads from a scratch store."""

    def __init__(self) -> None:
        from ductwork.store import Store

        self._scratch = tempfile.mkdtemp(prefix="ductwork-offline-")
        self._store = Store(f"sqlite:///{Path(self._scratch) / 'session.db'}")
        self.folder: Path | None = None
        self._journal: Journal | None = None
        self._pending: list[dict[str, object]] = []  # written before the task (its project)
        self._task_id = ""

    def begin(self, record: TaskRecord) -> TaskRecord:
        """Create the session's task; its folder is named after it and holds its data."""
        self.folder = sessions_folder() / record.id
        (self.folder / DATA).mkdir(parents=True, exist_ok=True)
        self._journal = Journal(self.folder / JOURNAL)
        self._journal.write({"format": 1, "task": record.id, "folder": str(self.folder)})
        for entry in self._pending:
            self._journal.write(entry)
        self._pending.clear()
        self._task_id = record.id
        placed = dataclasses.replace(record, output_uri=str(self.folder / DATA))
        created = self._call("create_task", (placed,), {})
        assert isinstance(created, TaskRecord)
        print(f"ductwork: offline mode, task {record.id} is recorded in {self.folder}", flush=True)
        return created

    def __getattr__(self, name: str) -> Callable[..., object]:
        method = getattr(self._store, name)
        if name not in WRITES:
            return cast(Callable[..., object], method)

        def journaled(*args: object, **kwargs: object) -> object:
            return self._call(name, args, kwargs)

        return journaled

    def _call(self, name: str, args: tuple[object, ...], kwargs: dict[str, object]) -> object:
        result = getattr(self._store, name)(*args, **kwargs)
        entry: dict[str, object] = {"op": name, "args": list(args), "kwargs": kwargs}
        if name in ("ensure_project", "create_task", "put_model"):
            entry["result"] = result
        if self._journal is None:
            self._pending.append(entry)
        else:
            self._journal.write(entry)
        if name == "set_status" and args and args[0] == self._task_id and args[1] in ENDED:
            self._seal()
        return result

    def _seal(self) -> None:
        """The task ended: zip the folder next to itself, and say where it is."""
        if self.folder is None:
            return
        archive = zip_folder(self.folder)
        # Said on the terminal, not recorded: the task's console is already written.
        print(f"ductwork: offline session stored in {archive}", file=original_stdout(), flush=True)

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None
        self._store.close()
        shutil.rmtree(self._scratch, ignore_errors=True)


def zip_folder(folder: Path) -> Path:
    """`<folder>.zip`, written under a temporary name and renamed whole."""
    target = folder.with_suffix(".zip")
    partial = folder.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    os.replace(partial, target)
    return target


def open_session() -> tuple[Backend, SessionBackend]:
    """A session backend, made the process's backend (so models and lookups use it too)."""
    from ductwork import client

    session = SessionBackend()
    backend = cast(Backend, session)
    client.use(backend)
    return backend, session
