"""Projects: nested by name ("team/pipelines/etl"); every ancestor exists as a project too."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ductwork.core.errors import NotFound, ValidationError
from ductwork.core.records import Project, new_id
from ductwork.store import bounds
from ductwork.store.common import now
from ductwork.store.sql import Columns, Conn

_COLUMNS = Columns("projects", ("id", "name", "system_tags", "created", "description"))
_INSERT = _COLUMNS.insert() + " ON CONFLICT (name) DO NOTHING"
_BY_NAME = f"SELECT {_COLUMNS.sql} FROM projects WHERE name = :name"
_BY_ID = f"SELECT {_COLUMNS.sql} FROM projects WHERE id = :id"


def _record(conn: Conn, row: Any) -> Project:
    id_, name, system_tags, created, description = _COLUMNS.decode(conn, row)
    return Project(id=id_, name=name, system_tags=list(system_tags), created=created, description=description)


def check_name(name: str) -> str:
    """The normalised full name; ValidationError for empty names or empty path parts."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"project name must be a non-empty string, got {bounds.short(name)}")
    bounds.text(name, "project name", 512)
    parts = [part.strip() for part in name.strip().split("/")]
    if any(not part for part in parts):
        raise ValidationError(f"project name {name!r} has an empty part between '/'")
    return "/".join(parts)


def ensure(conn: Conn, name: str, system_tags: Sequence[str] = ()) -> Project:
    """The project `name`, created with its ancestors if missing; `system_tags` are added."""
    full = check_name(name)
    bounds.strings(system_tags, f"project {full}: system_tags", 1024)
    parts = full.split("/")
    # Ancestors first, so a parent always exists before its child (the UI's tree relies on it).
    stamp = now()
    rows = [
        {
            "id": new_id(),
            "name": "/".join(parts[: i + 1]),
            "system_tags": "[]",
            "created": stamp,
            "description": "",
        }
        for i in range(len(parts))
    ]
    conn.many(_INSERT, rows)
    row = conn.first(conn.for_update(_BY_NAME), {"name": full})
    assert row is not None  # inserted above
    project = _record(conn, row)
    missing = [tag for tag in system_tags if tag not in project.system_tags]
    if missing:
        project.system_tags = [*project.system_tags, *missing]
        conn.count(
            "UPDATE projects SET system_tags = :system_tags WHERE id = :id",
            _COLUMNS.encode({"system_tags": project.system_tags, "id": project.id}),
        )
    return project


def get(conn: Conn, project_id: str) -> Project:
    row = conn.first(_BY_ID, {"id": project_id})
    if row is None:
        raise NotFound(f"project {project_id} not found")
    return _record(conn, row)


def find(conn: Conn, name: str) -> Project | None:
    row = conn.first(_BY_NAME, {"name": check_name(name)})
    return None if row is None else _record(conn, row)


def list_all(conn: Conn) -> list[Project]:
    return [_record(conn, row) for row in conn.rows(f"SELECT {_COLUMNS.sql} FROM projects ORDER BY name")]
