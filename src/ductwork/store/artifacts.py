"""Artifact records of a task (the bytes live in the artifact storage, not here)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from ductwork.core.errors import NotFound, ValidationError
from ductwork.core.records import ArtifactRecord
from ductwork.store import bounds
from ductwork.store.common import require_task, touch_writable_task, touch_writable_tasks
from ductwork.store.sql import Columns, Conn, Fields

FIELDS = tuple(f.name for f in dataclasses.fields(ArtifactRecord))
_COLUMNS = Columns("artifacts", FIELDS)
_UPSERT = _COLUMNS.upsert(("task_id", "name"))
_BY_TASK = f"SELECT {_COLUMNS.sql} FROM artifacts WHERE task_id = :task_id ORDER BY name"
_MODES = ("output", "input")


def put(conn: Conn, artifact: ArtifactRecord) -> None:
    row = _row(artifact, conn.dialect)
    touch_writable_task(conn, artifact.task_id)
    conn.count(_UPSERT, row)


def put_many(conn: Conn, records: Sequence[ArtifactRecord]) -> None:
    """`put` for several artifacts (of any tasks) in one statement."""
    rows = [_row(artifact, conn.dialect) for artifact in records]
    touch_writable_tasks(conn, {artifact.task_id for artifact in records})
    conn.many(_UPSERT, rows)


def _row(artifact: ArtifactRecord, dialect: str) -> dict[str, Any]:
    """The artifact's columns, checked and encoded: a ValidationError names the artifact and field."""
    if not isinstance(artifact.name, str) or not artifact.name:
        raise ValidationError(f"task {artifact.task_id}: artifact name must be a non-empty string")
    if artifact.mode not in _MODES:
        raise ValidationError(
            f"artifact {artifact.name!r}: mode must be 'output' or 'input', got {artifact.mode!r}"
        )
    if not isinstance(artifact.metadata, dict):
        raise ValidationError(f"artifact {artifact.name!r}: metadata must be a dict")
    row = _FIELDS_OF(artifact)
    return bounds.encoded(
        "artifacts", row, lambda: f"artifact {bounds.short(artifact.name)}", dialect=dialect
    )


_FIELDS_OF = Fields(ArtifactRecord, FIELDS)


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
