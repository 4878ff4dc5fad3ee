"""Projects: nested by name ("team/pipelines/etl"); every ancestor exists as a project too."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from ductwork.core.errors import NotFound, ValidationError
from ductwork.core.records import Project, new_id
from ductwork.store import bounds
from ductwork.store.common import for_update, insert, now
from ductwork.store.tables import projects

_columns = (
    projects.c.id,
    projects.c.name,
    projects.c.system_tags,
    projects.c.created,
    projects.c.description,
)
_by_name = sa.select(*_columns).where(projects.c.name == sa.bindparam("name"))
_by_id = sa.select(*_columns).where(projects.c.id == sa.bindparam("id"))


def _record(row: Any) -> Project:
    return Project(
        id=row.id,
        name=row.name,
        system_tags=list(row.system_tags),
        created=row.created,
        description=row.description,
    )


def check_name(name: str) -> str:
    """The normalised full name; ValidationError for empty names or empty path parts."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"project name must be a non-empty string, got {bounds.short(name)}")
    bounds.text(name, "project name", 512)
    parts = [part.strip() for part in name.strip().split("/")]
    if any(not part for part in parts):
        raise ValidationError(f"project name {name!r} has an empty part between '/'")
    return "/".join(parts)


def ensure(conn: sa.Connection, name: str, system_tags: Sequence[str] = ()) -> Project:
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
            "system_tags": [],
            "created": stamp,
            "description": "",
        }
        for i in range(len(parts))
    ]
    conn.execute(insert(conn, projects).on_conflict_do_nothing(index_elements=["name"]), rows)
    row = conn.execute(for_update(conn, _by_name), {"name": full}).one()
    project = _record(row)
    missing = [tag for tag in system_tags if tag not in project.system_tags]
    if missing:
        project.system_tags = [*project.system_tags, *missing]
        conn.execute(
            sa.update(projects).where(projects.c.id == project.id).values(system_tags=project.system_tags)
        )
    return project


def get(conn: sa.Connection, project_id: str) -> Project:
    row = conn.execute(_by_id, {"id": project_id}).first()
    if row is None:
        raise NotFound(f"project {project_id} not found")
    return _record(row)


def find(conn: sa.Connection, name: str) -> Project | None:
    row = conn.execute(_by_name, {"name": check_name(name)}).first()
    return None if row is None else _record(row)


def list_all(conn: sa.Connection) -> list[Project]:
    return [_record(row) for row in conn.execute(sa.select(*_columns).order_by(projects.c.name))]
