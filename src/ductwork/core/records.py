"""The records every layer passes around: plain dataclasses that turn into JSON and back.

They are the shapes of the backend contract (`ductwork.client.contract`), so the embedded
store, the HTTP server and the local-mode pipe all speak them.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


def new_id() -> str:
    """A 32-hex-digit id, the shape ClearML users know: a random (version 4) UUID's hex, made
    as `uuid.uuid4().hex` makes it without importing uuid (which imports platform)."""
    try:
        return _made.popleft()  # one thread takes each: popleft is atomic
    except IndexError:
        # The kernel's randomness for a few hundred ids at once: each read lets the other
        # threads take the interpreter, and a debug run makes an id a step.
        raw = os.urandom(16 * 256)
        _made.extend(_version_4(bytearray(raw[i : i + 16])) for i in range(16, len(raw), 16))
        return _version_4(bytearray(raw[:16]))


def _version_4(raw: bytearray) -> str:
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    return raw.hex()


_made: deque[str] = deque()
if hasattr(os, "register_at_fork"):  # Windows has no fork
    os.register_at_fork(after_in_child=_made.clear)  # a child must not make its parent's next ids


def now() -> float:
    return time.time()


class TaskTypes:
    """Task types, as `Task.TaskTypes.<name>` (values are the stored strings)."""

    training = "training"
    testing = "testing"
    inference = "inference"
    data_processing = "data_processing"
    application = "application"
    monitor = "monitor"
    controller = "controller"
    optimizer = "optimizer"
    service = "service"
    qc = "qc"
    custom = "custom"

    @classmethod
    def all(cls) -> list[str]:
        return [v for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, str)]


@dataclass
class Project:
    id: str
    name: str  # full path, "a/b/c"
    system_tags: list[str] = field(default_factory=list)
    created: float = field(default_factory=now)
    description: str = ""


@dataclass
class Param:
    """One typed hyper-parameter `Section/name`; `value` is the Python value itself."""

    value: Any = None
    type: str = ""  # "int", "float", "bool", "str", "list", "dict", "NoneType" or a user hint
    description: str = ""


@dataclass
class ConfigObject:
    text: str = ""
    type: str = "dictionary"  # "dictionary", "json", "yaml", "text", "file"
    description: str = ""


@dataclass
class TaskRecord:
    id: str = field(default_factory=new_id)
    name: str = ""
    project: str | None = None  # project id
    type: str = TaskTypes.training
    status: str = "created"
    status_message: str = ""
    status_reason: str = ""
    created: float = field(default_factory=now)
    started: float | None = None
    ended: float | None = None
    updated: float = field(default_factory=now)
    parent: str | None = None
    tags: list[str] = field(default_factory=list)
    system_tags: list[str] = field(default_factory=list)
    comment: str = ""
    user: str = ""
    # entry_point, working_dir, repository, branch, commit, diff, binary, code, module
    script: dict[str, Any] = field(default_factory=dict)
    requirements: dict[str, Any] = field(default_factory=dict)  # {"pip": "numpy\npandas"}
    container: dict[str, Any] = field(default_factory=dict)  # image, arguments, setup_shell_script
    runtime: dict[str, Any] = field(default_factory=dict)
    output_uri: str | None = None
    queue: str | None = None  # last queue it was enqueued on
    worker: str | None = None  # last worker that ran it
    archived: bool = False
    progress: int = 0


@dataclass
class ArtifactRecord:
    task_id: str
    name: str
    type: str = ""  # "numpy", "pandas", "json", "str", "file", "folder", "image", "pickle", "custom"
    mode: str = "output"  # "output" | "input"
    uri: str = ""  # where the bytes are ("" when stored inline)
    inline: str | None = None  # small JSON values live in the store itself
    hash: str = ""  # sha256 of the stored bytes
    size: int = 0
    content_type: str = ""
    preview: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    timestamp: float = field(default_factory=now)
    file_name: str = ""  # "file"/"folder" artifacts: the original name (blobs are named by hash)


@dataclass
class ModelRecord:
    id: str = field(default_factory=new_id)
    name: str = ""
    project: str | None = None
    task_id: str | None = None  # the task that created it
    framework: str = ""
    uri: str = ""
    hash: str = ""
    size: int = 0
    tags: list[str] = field(default_factory=list)
    comment: str = ""
    config_text: str = ""
    labels: dict[str, int] = field(default_factory=dict)
    published: bool = False
    created: float = field(default_factory=now)
    user: str = ""  # the owner, recorded by the server


@dataclass
class TaskModel:
    """A model attached to a task as one of its `input` or `output` models."""

    task_id: str
    model_id: str
    role: str  # "input" | "output"
    name: str = ""


@dataclass
class MetricEvent:
    """One reported value. `kind`: scalar, single, plot, table, text, image, histogram."""

    task_id: str
    kind: str
    title: str = ""
    series: str = ""
    iteration: int = 0
    value: float | None = None
    payload: Any = None  # plotly figure dict, table rows, text, image artifact uri
    ts: float = field(default_factory=now)


@dataclass
class ConsoleLine:
    task_id: str
    text: str
    stream: str = "stdout"  # "stdout" | "stderr" | "ductwork"
    ts: float = field(default_factory=now)
    seq: int = 0  # assigned by the store

    def storable(self) -> ConsoleLine:
        """This line as every store can hold it. Printed output cannot be refused at the call
        (print has no caller to tell) and PostgreSQL text cannot hold a NUL: it becomes U+2400
        SYMBOL FOR NULL, which shows where it was; lone surrogates (bytes a stream decoded with
        surrogateescape) become backslash escapes."""
        if _storable_text(self.text):
            return self
        text = self.text.replace("\x00", NUL_SIGN).encode("utf-8", "backslashreplace").decode()
        return ConsoleLine(self.task_id, text, self.stream, self.ts, self.seq)


NUL_SIGN = "\u2400"


def _storable_text(text: str) -> bool:
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


@dataclass
class Queue:
    id: str = field(default_factory=new_id)
    name: str = ""
    created: float = field(default_factory=now)
    length: int = 0
    user: str = ""  # the owner (who created it), recorded by the server


@dataclass
class QueueEntry:
    queue: str  # queue name
    task_id: str
    priority: int = 0  # higher first
    added: float = field(default_factory=now)


@dataclass
class Worker:
    id: str
    queues: list[str] = field(default_factory=list)
    task_id: str | None = None
    started: float = field(default_factory=now)
    heartbeat: float = field(default_factory=now)
    host: str = ""
    pid: int = 0


@dataclass
class NodeState:
    """A step's live state inside one run (controller task `run_id`)."""

    run_id: str
    name: str
    status: str = "pending"
    task_id: str | None = None
    started: float | None = None
    ended: float | None = None
    attempt: int = 0
    cache_key: str = ""
    cache_note: str = ""  # why the step was, or was not, a cache hit
    message: str = ""


def to_dict(record: Any) -> dict[str, Any]:
    """A record as a JSON-ready dict (shallow: fields are already JSON types)."""
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build a record, ignoring keys it does not know (newer peers may send more)."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})
