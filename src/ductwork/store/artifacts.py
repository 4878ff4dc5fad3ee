"""Artifact records of a task (the bytes live in the artifact storage, not here)."""

from __future__ import annotations

import dataclasses

from ductwork.core.errors import NotFound, ValidationError
from ductwork.core.records import ArtifactRecord
from ductwork.store import bounds
from ductwork.store.common import require_task, touch_writable_task
from ductwork.store.sql import Columns, Conn

FIELDS = tuple(f.name for f in dataclasses.fields(ArtifactRecord))
_COLUMNS = Columns("artifacts", FIELDS)
_UPSERT = _COLUMNS.upsert(("task_id", "name"))
_BY_TASK = f"SELECT {_COLUMNS.sql} FROM artifacts WHERE task_id = :task_id ORDER BY name"
_MODES = ("output", "input")


def put(conn: Conn, artifact: ArtifactRecord) -> None:
    if not isinstance(artifact.name, str) or not artifact.name:
        raise ValidationError(f"task {artifact.task_id}: artifact name must be a non-empty string")
    if artifact.mode not in _MODES:
        raise ValidationError(
            f"artifact {artifact.name!r}: mode must be 'output' or 'input', got {artifact.mode!r}"
        )
    if not isinstance(artifact.metadata, dict):
        raise ValidationError(f"artifact {artifact.name!r}: metadata must be a dict")
    row = {name: getattr(artifact, name) for name in FIELDS}
    bounds.check("artifacts", row, f"artifact {bounds.short(artifact.name)}", dialect=conn.dialect)
    touch_writable_task(conn, artifact.task_id)
    conn.count(_UPSERT, _COLUMNS.encode(row))


def get_all(conn: Conn, task_id: str) -> list[ArtifactRecord]:
    rows = conn.rows(_BY_TASK, {"task_id": task_id})
    result = [ArtifactRecord(*values) for values in _COLUMNS.decode_all(conn, rows)]
    if not result:
        require_task(conn, task_id)
    return result


def delete(conn: Conn, task_id: str, name: str) -> None:
    touch_writable_task(conn, task_id)
    gone = conn.count(
        "DELETE FROM artifacts WHERE task_id = :task_id AND name = :name", {"task_id": task_id, "name": name}
    )
    if gone == 0:
        raise NotFound(f"task {task_id} has no artifact {name!r}")
