"""Query shapes shared by the store, the server and the client."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TaskQuery:
    """Filters for `query_tasks`; every field that is set must match."""

    ids: list[str] | None = None
    id_prefix: str | None = None  # ids that start with it (the CLI's unique prefixes)
    project: str | None = None  # project id
    project_name: str | None = None  # full name; with `include_subprojects` also "name/..."
    include_subprojects: bool = False
    name: str | None = None  # exact name
    name_pattern: str | None = None  # a Python regex matched against the name
    status: list[str] | None = None
    type: list[str] | None = None
    tags: list[str] | None = None  # all must be present; "-x" means x must be absent
    system_tags: list[str] | None = None  # same rules
    parent: str | None = None
    archived: bool | None = False  # None: both
    runtime: dict[str, Any] | None = None  # runtime properties that must be equal
    order_by: str = "-created"  # a field name, "-" for descending
    limit: int | None = None
    offset: int = 0


@dataclass
class EventQuery:
    task_id: str
    kind: str | None = None
    title: str | None = None
    series: str | None = None
    after_iteration: int | None = None
    limit: int | None = None


@dataclass
class Page:
    """A slice of a larger result; `total` counts all matches."""

    items: list[Any] = field(default_factory=list)
    total: int = 0
