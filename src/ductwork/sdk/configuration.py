"""Configuration objects: named text blobs of a task, from and back to Python objects.

A dict or list is stored as JSON text (type `dictionary`), a file as its content (type from
its extension), other text as it is. Running remotely, the stored text wins: a dict or list is
updated in place, a file is rewritten to a local copy whose path is returned.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ductwork.core.errors import ValidationError
from ductwork.core.records import ConfigObject

_TYPES_BY_SUFFIX = {".json": "json", ".yaml": "yaml", ".yml": "yaml", ".conf": "hocon", ".ini": "ini"}


def config_from_object(configuration: object, description: str, name: str) -> ConfigObject:
    if isinstance(configuration, (dict, list)):
        try:
            text = json.dumps(configuration, indent=2, sort_keys=False)
        except (TypeError, ValueError) as exc:
            raise ValidationError(f"configuration {name!r}: cannot store it as JSON: {exc}") from exc
        return ConfigObject(text=text, type="dictionary", description=description)
    path = _as_path(configuration)
    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValidationError(f"configuration {name!r}: cannot read {str(path)!r}: {exc}") from exc
        return ConfigObject(
            text=text, type=_TYPES_BY_SUFFIX.get(path.suffix.lower(), "text"), description=description
        )
    if isinstance(configuration, Path):
        raise ValidationError(f"configuration {name!r}: file {str(configuration)!r} does not exist")
    if isinstance(configuration, str):
        return ConfigObject(text=configuration, type="text", description=description)
    raise ValidationError(
        f"configuration {name!r} must be a dict, a list, a file path or text, "
        f"got {type(configuration).__name__}"
    )


def config_to_object(local: object, stored: ConfigObject, name: str, task_id: str) -> object:
    """The stored configuration in the shape of the local one (see the module docstring)."""
    if isinstance(local, (dict, list)):
        value = parse_text(stored.text, name, task_id)
        if isinstance(local, dict) and isinstance(value, dict):
            local.clear()
            local.update(value)
            return local
        if isinstance(local, list) and isinstance(value, list):
            local[:] = value
            return local
        return value
    path = _as_path(local)
    if path is not None or isinstance(local, Path):
        suffix = (path or Path(str(local))).suffix
        import tempfile

        handle, target = tempfile.mkstemp(prefix=f"ductwork-config-{task_id[:8]}-", suffix=suffix)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(stored.text)
        _remove_at_exit(target)  # the copy lives as long as the task's process, not in /tmp after
        return Path(target) if isinstance(local, Path) else target
    return stored.text


def parse_text(text: str, name: str, task_id: str) -> Any:
    """JSON, else YAML (when PyYAML is installed); ValidationError naming the object otherwise."""
    try:
        return json.loads(text)
    except ValueError as json_error:
        try:
            import yaml  # type: ignore[import-untyped]
        except ImportError:
            raise ValidationError(
                f"configuration {name!r} of task {task_id} is not JSON ({json_error}); "
                "install PyYAML to read YAML"
            ) from None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValidationError(
                f"configuration {name!r} of task {task_id} is neither JSON nor YAML: {exc}"
            ) from None


def _as_path(value: object) -> Path | None:
    if isinstance(value, Path):
        return value if value.is_file() else None
    if isinstance(value, str) and value and "\n" not in value and len(value) < 4096:
        candidate = Path(value).expanduser()
        try:
            return candidate if candidate.is_file() else None
        except OSError:
            return None
    return None


def _remove_at_exit(path: str) -> None:
    import atexit
    import contextlib

    def remove() -> None:
        with contextlib.suppress(OSError):
            os.unlink(path)

    atexit.register(remove)
