"""What a scheduler remembers across restarts, kept on its own task as two configuration
objects: the definitions (`schedule` or `triggers`, editable, as ClearML keeps them) and the
state (`state`: per schedule its anchor, last slot and firing; per trigger what it already
handled). Configuration objects are ordinary task records, so the store needs no new table and
any transport (embedded, HTTP) carries them; `ductwork scheduler list` reads the same two."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from ductwork.client.contract import Backend
from ductwork.core.records import ConfigObject
from ductwork.core.schedulers import STATE_CONFIG


def utcnow() -> datetime:
    """Naive UTC, as ClearML's schedules are (its docs: the time zone is always UTC)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def from_iso(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


class SavedState:
    """A JSON object per schedule or trigger name, read once and written after each change."""

    def __init__(self, backend: Backend, task_id: str) -> None:
        self._backend = backend
        self._task_id = task_id
        stored = backend.get_configurations(task_id).get(STATE_CONFIG)
        loaded = json.loads(stored.text) if stored is not None and stored.text else {}
        self.entries: dict[str, dict[str, Any]] = loaded if isinstance(loaded, dict) else {}

    def entry(self, name: str) -> dict[str, Any]:
        """The state of one entry (a fresh one in place of anything that is not an object)."""
        found = self.entries.get(name)
        if not isinstance(found, dict):
            found = self.entries[name] = {}
        return found

    def save(self) -> None:
        text = json.dumps(self.entries, indent=1, sort_keys=True)
        self._backend.set_configuration(
            self._task_id, STATE_CONFIG, ConfigObject(text=text, type="json", description="scheduler state")
        )


def write_definitions(
    backend: Backend, task_id: str, section: str, definitions: list[dict[str, Any]]
) -> None:
    text = json.dumps(definitions, indent=1, default=str)
    backend.set_configuration(
        task_id, section, ConfigObject(text=text, type="json", description=f"{section} configuration")
    )


def read_definitions(backend: Backend, task_id: str, section: str) -> list[dict[str, Any]] | None:
    """The stored definitions, or None when absent or not a JSON list (an edit gone wrong)."""
    stored = backend.get_configurations(task_id).get(section)
    if stored is None or not stored.text:
        return None
    try:
        loaded = json.loads(stored.text)
    except ValueError:
        return None
    return [d for d in loaded if isinstance(d, dict)] if isinstance(loaded, list) else None
