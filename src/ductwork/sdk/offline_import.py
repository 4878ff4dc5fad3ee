"""`Task.import_offline_session`: an offline session (`offline`) replayed into the backend of
the day as a new task, or onto an existing one.

Everything is checked before the first write: the zip (no path leading out, no links, bounded
count and sizes, which are counted as bytes are extracted, not taken from its headers), the
journal (every line whole but a torn last one, which a crash mid-write leaves and which is
dropped), and every artifact and model file the journal names. Only then is the task made and
its journal replayed; if a write fails on the way, the new task is deleted again.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import cast

from ductwork.client.contract import Backend
from ductwork.client.pipe import decode
from ductwork.core.errors import ValidationError
from ductwork.core.records import (
    ArtifactRecord,
    ConsoleLine,
    MetricEvent,
    ModelRecord,
    Project,
    TaskModel,
    TaskRecord,
    new_id,
)
from ductwork.core.states import TaskStatus
from ductwork.sdk import offline, transfer

MAX_MEMBERS = 100_000
MAX_BYTES = 64 * 1024**3  # all files of a session, extracted
_CHUNK = 1024 * 1024

Entry = dict[str, object]


class SessionError(ValidationError):
    """The session folder or zip cannot be imported (nothing was written)."""


@dataclasses.dataclass
class Session:
    folder: Path  # where it is read from here
    recorded_folder: str  # where it was written, as its journal names it
    task_id: str
    entries: list[Entry]


@contextmanager
def opened(path: str | Path) -> Iterator[Session]:
    """The session at `path` (a folder or a zip of one), checked whole."""
    source = Path(path).expanduser()
    if source.is_dir():
        yield read(source)
        return
    if not source.is_file():
        raise SessionError(f"offline session {str(path)!r}: no such folder or zip file")
    scratch = Path(tempfile.mkdtemp(prefix="ductwork-offline-import-"))
    try:
        extract(source, scratch)
        yield read(scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def extract(archive: Path, target: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = zipped.infolist()
            if len(members) > MAX_MEMBERS:
                raise SessionError(
                    f"offline session {archive}: {len(members)} files, more than {MAX_MEMBERS}"
                )
            budget = MAX_BYTES
            for member in members:
                budget -= _extract_member(zipped, member, target, budget, archive)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as error:
        raise SessionError(f"offline session {archive}: not a readable zip file ({error})") from None


def _extract_member(
    zipped: zipfile.ZipFile, member: zipfile.ZipInfo, target: Path, budget: int, archive: Path
) -> int:
    """Write one member under `target`; the bytes it took."""
    name = member.filename
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if not parts or name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0] or "\0" in name:
        raise SessionError(f"offline session {archive}: member {name!r} leads out of the session folder")
    if stat.S_ISLNK(member.external_attr >> 16):
        raise SessionError(f"offline session {archive}: member {name!r} is a link")
    destination = target.joinpath(*parts)
    if member.is_dir():
        destination.mkdir(parents=True, exist_ok=True)
        return 0
    destination.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with zipped.open(member) as source, destination.open("wb") as sink:
        while chunk := source.read(_CHUNK):
            written += len(chunk)
            if written > budget:
                raise SessionError(f"offline session {archive}: larger than {MAX_BYTES} bytes once extracted")
            sink.write(chunk)
    return written


def read(folder: Path) -> Session:
    journal = folder / offline.JOURNAL
    try:
        raw = journal.read_bytes()
    except OSError as error:
        raise SessionError(f"offline session {folder}: no readable {offline.JOURNAL} ({error})") from None
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    elif lines:
        lines.pop()  # a torn last line: the process died while writing it
    entries = [_entry(line, number, folder) for number, line in enumerate(lines, start=1)]
    if not entries or entries[0].get("format") != 1 or not isinstance(entries[0].get("task"), str):
        raise SessionError(f"offline session {folder}: the journal does not start with a session header")
    header = entries[0]
    session = Session(folder, str(header.get("folder", "")), str(header["task"]), entries[1:])
    for entry in session.entries:
        _check(session, entry)
    return session


def _entry(line: bytes, number: int, folder: Path) -> Entry:
    try:
        value = decode(json.loads(line))
    except (ValueError, KeyError, TypeError) as error:
        raise SessionError(f"offline session {folder}: journal line {number} is damaged ({error})") from None
    if not isinstance(value, dict):
        raise SessionError(f"offline session {folder}: journal line {number} is not an entry")
    return cast(Entry, value)


def _check(session: Session, entry: Entry) -> None:
    op = entry.get("op")
    if (
        op not in offline.WRITES
        or not isinstance(entry.get("args"), list)
        or not isinstance(entry.get("kwargs"), dict)
    ):
        raise SessionError(f"offline session {session.folder}: unknown journal entry {str(op)[:80]!r}")
    args = cast(list[object], entry["args"])
    for record in (*args, entry.get("result")):
        if isinstance(record, (ArtifactRecord, ModelRecord)) and record.uri:
            local_file(session, record.uri)
    if op == "add_events" and args and isinstance(args[0], list):
        for event in args[0]:
            stored = image_of(event)
            if stored is not None:
                local_file(session, str(stored.get("uri", "")))


def image_of(event: object) -> dict[str, object] | None:
    """The stored file of an image event (a debug sample, a captured figure), if it has one."""
    if not isinstance(event, MetricEvent) or not isinstance(event.payload, dict):
        return None
    stored = event.payload.get("artifact")
    return cast(dict[str, object], stored) if isinstance(stored, dict) and stored.get("uri") else None


def local_file(session: Session, uri: str) -> Path | None:
    """The file in the session for a `uri` it recorded (None: stored elsewhere, kept as is)."""
    path = uri.removeprefix("file://")
    data = f"{session.recorded_folder.rstrip('/')}/{offline.DATA}/"
    if not session.recorded_folder or not path.startswith(data):
        return None
    relative = PurePosixPath(path[len(data) :])
    base = (session.folder / offline.DATA).resolve()
    found = base.joinpath(*relative.parts).resolve()
    if ".." in relative.parts or not found.is_relative_to(base) or not found.is_file():
        raise SessionError(
            f"offline session {session.folder}: the file of {uri!r} is missing from the session"
        )
    return found


def import_session(
    backend: Backend, path: str | Path, previous_task_id: str | None = None, iteration_offset: int = 0
) -> str:
    if isinstance(backend, offline.SessionBackend) or offline.is_offline():
        raise SessionError(
            "Task.import_offline_session: offline mode is on; call Task.set_offline(False) first"
        )
    if not isinstance(iteration_offset, int) or isinstance(iteration_offset, bool):
        raise SessionError(f"iteration_offset must be an int, got {type(iteration_offset).__name__}")
    print(f"ductwork: importing offline session {path}", flush=True)
    with opened(path) as session:
        if previous_task_id is not None:
            backend.get_task(previous_task_id)  # it exists, before anything is written
        replay = Replay(backend, session, previous_task_id, iteration_offset)
        return replay.run()


class Replay:
    """The journal's writes, on `backend`, with the session's ids turned into new ones."""

    def __init__(self, backend: Backend, session: Session, previous: str | None, offset: int) -> None:
        self.backend = backend
        self.session = session
        self.previous = previous
        self.offset = offset
        self.ids: dict[str, str] = {}
        self.task_id = previous or ""
        self.ended: tuple[str, str, str] | None = None

    def run(self) -> str:
        try:
            for entry in self.session.entries:
                self._apply(entry)
            self._end()
        except BaseException:
            if self.task_id and self.previous is None:
                self.backend.delete_task(self.task_id)  # nothing half-done stays behind
            raise
        return self.task_id

    def _apply(self, entry: Entry) -> None:
        op = str(entry["op"])
        args = cast(list[object], entry["args"])
        kwargs = cast(dict[str, object], entry["kwargs"])
        result = entry.get("result")
        if op == "ensure_project" and isinstance(result, Project):
            tags = kwargs.get("system_tags", args[1] if len(args) > 1 else [])
            made = self.backend.ensure_project(str(args[0]), [str(tag) for tag in cast(list[object], tags)])
            self.ids[result.id] = made.id
        elif op == "create_task" and isinstance(result, TaskRecord):
            self._create(result)
        elif op == "set_status" and args and args[0] == self.session.task_id:
            self.ended = (str(args[1]), str(kwargs.get("message", "")), str(kwargs.get("reason", "")))
        elif op in ("put_artifact", "put_model", "attach_model"):
            self._output(op, args[0], result)
        elif op == "rename_model_link" and isinstance(args[0], TaskModel):
            link = dataclasses.replace(args[0], model_id=self.ids.get(args[0].model_id, args[0].model_id))
            self.backend.rename_model_link(dataclasses.replace(link, task_id=self.task_id), str(args[1]))
        elif op in ("add_events", "add_console"):
            self._reports(op, cast(list[object], args[0]))
        elif op in ("edit_task", "set_parameters", "set_configuration", "delete_artifact") and (
            args and args[0] == self.session.task_id
        ):
            self._task_write(op, args, kwargs)

    def _create(self, record: TaskRecord) -> None:
        if record.id != self.session.task_id:
            return
        if self.previous is not None:
            self.backend.set_status(self.previous, TaskStatus.in_progress.value, force=True)
            self.ids[record.id] = self.previous
            return
        project = self.ids.get(record.project or "", record.project)
        made = dataclasses.replace(record, id=new_id(), project=project, output_uri=None)
        self.task_id = self.backend.create_task(made).id
        self.ids[record.id] = self.task_id

    def _task_write(self, op: str, args: list[object], kwargs: dict[str, object]) -> None:
        rest = args[1:]
        if op == "edit_task":
            changes = {k: v for k, v in cast(dict[str, object], rest[0]).items() if k != "output_uri"}
            self.backend.edit_task(self.task_id, changes)
        else:
            getattr(self.backend, op)(self.task_id, *rest, **kwargs)

    def _output(self, op: str, record: object, result: object) -> None:
        if isinstance(record, ArtifactRecord):
            uri, digest, size = self._place(record.uri, record.name, record.hash, record.size)
            placed = dataclasses.replace(record, task_id=self.task_id, uri=uri, hash=digest, size=size)
            self.backend.put_artifact(placed)
        elif isinstance(result, ModelRecord):
            new = self.ids.setdefault(result.id, new_id())
            uri, digest, size = self._place(result.uri, result.name or "model", result.hash, result.size)
            project = self.ids.get(result.project or "", result.project)
            self.backend.put_model(
                dataclasses.replace(
                    result, id=new, task_id=self.task_id, project=project, uri=uri, hash=digest, size=size
                )
            )
        elif isinstance(record, TaskModel):
            model = self.ids.get(record.model_id, record.model_id)
            self.backend.attach_model(dataclasses.replace(record, task_id=self.task_id, model_id=model))

    def _place(self, uri: str, name: str, digest: str, size: int) -> tuple[str, str, int]:
        """A session file stored where the backend keeps this task's files."""
        found = local_file(self.session, uri) if uri else None
        if found is None:
            return uri, digest, size
        stored = transfer.save(self.backend, self.task_id, None, name, found)
        return stored.uri, stored.hash, stored.size

    def _reports(self, op: str, items: list[object]) -> None:
        if op == "add_events":
            events = [
                dataclasses.replace(
                    e, task_id=self.task_id, iteration=e.iteration + self.offset, payload=self._payload(e)
                )
                for e in items
                if isinstance(e, MetricEvent) and e.task_id == self.session.task_id
            ]
            self.backend.add_events(events)
        else:
            lines = [
                dataclasses.replace(line, task_id=self.task_id, seq=0)
                for line in items
                if isinstance(line, ConsoleLine) and line.task_id == self.session.task_id
            ]
            self.backend.add_console(lines)

    def _payload(self, event: MetricEvent) -> object:
        """An image event's payload with its file stored in the backend (others as they are)."""
        stored = image_of(event)
        if stored is None:
            return event.payload
        uri, digest, size = self._place(
            str(stored["uri"]), str(stored.get("name") or "image"), str(stored.get("hash", "")), 0
        )
        placed = {**stored, "task_id": self.task_id, "uri": uri, "hash": digest, "size": size}
        return {**cast(dict[str, object], event.payload), "artifact": placed}

    def _end(self) -> None:
        """The session's last status; one that never ended (its process died) is `stopped`."""
        status, message, reason = self.ended or ("", "", "")
        if status not in offline.ENDED:
            status, message = TaskStatus.stopped.value, "the offline session ended without closing its task"
        self.backend.set_status(self.task_id, status, message=message, reason=reason, force=True)
