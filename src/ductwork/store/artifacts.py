"""Artifact records of a task (the bytes live in the artifact storage, not here)."""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from ductwork.core.errors import NotFound, ValidationError
from ductwork.core.records import ArtifactRecord
from ductwork.store import bounds
from ductwork.store.common import require_task, touch_writable_task, upsert
from ductwork.store.tables import artifacts

FIELDS = tuple(f.name for f in dataclasses.fields(ArtifactRecord))
_columns = tuple(artifacts.c[name] for name in FIELDS)
_by_task = (
    sa.select(*_columns).where(artifacts.c.task_id == sa.bindparam("task_id")).order_by(artifacts.c.name)
)
_MODES = ("output", "input")


def put(conn: sa.Connection, artifact: ArtifactRecord) -> None:
    if not isinstance(artifact.name, str) or not artifact.name:
        raise ValidationError(f"task {artifact.task_id}: artifact name must be a non-empty string")
    if artifact.mode not in _MODES:
        raise ValidationError(
            f"artifact {artifact.name!r}: mode must be 'output' or 'input', got {artifact.mode!r}"
        )
    if not isinstance(artifact.metadata, dict):
        raise ValidationError(f"artifact {artifact.name!r}: metadata must be a dict")
    row = {name: getattr(artifact, name) for name in FIELDS}
    bounds.check(artifacts, row, f"artifact {bounds.short(artifact.name)}", dialect=conn.dialect.name)
    touch_writable_task(conn, artifact.task_id)
    conn.execute(upsert(conn, artifacts, ("task_id", "name"), FIELDS), row)


def get_all(conn: sa.Connection, task_id: str) -> list[ArtifactRecord]:
    result = [ArtifactRecord(*row) for row in conn.execute(_by_task, {"task_id": task_id})]
    if not result:
        require_task(conn, task_id)
    return result


def delete(conn: sa.Connection, task_id: str, name: str) -> None:
    touch_writable_task(conn, task_id)
    gone = conn.execute(sa.delete(artifacts).where(artifacts.c.task_id == task_id, artifacts.c.name == name))
    if gone.rowcount == 0:
        raise NotFound(f"task {task_id} has no artifact {name!r}")
