"""Artifact names: any readable text, never a path (blobs are named by their hash)."""

from __future__ import annotations

from ductwork.core.errors import ValidationError

MAX_NAME_LENGTH = 255


def validate_name(task_id: str, name: object) -> str:
    """Return `name` if it is a usable artifact name, else raise ValidationError naming it."""
    where = f"task {task_id}"
    if not isinstance(name, str):
        raise ValidationError(f"artifact name must be a str, got {type(name).__name__} ({where})")
    if not name.strip():
        raise ValidationError(f"artifact name must not be empty ({where})")
    if "\x00" in name:
        raise ValidationError(f"artifact name {name!r} contains a NUL character ({where})")
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationError(
            f"artifact name {name[:40]!r}... is {len(name)} characters long, "
            f"the limit is {MAX_NAME_LENGTH} ({where})"
        )
    return name
