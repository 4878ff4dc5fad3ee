"""`Hyperparameters`: parameters and configuration objects of a task, and `connect()`.

Running locally, connected values are written to the task. Run by an agent or a pipeline
(`_remote`), the task's stored values are read back over the local ones, cast to the local
types, so an int stays an int and a list a list.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from ductwork.core.errors import ValidationError
from ductwork.core.records import ConfigObject, Param
from ductwork.sdk import params
from ductwork.sdk.capture import arguments
from ductwork.sdk.checks import require_str
from ductwork.sdk.configuration import config_from_object, config_to_object
from ductwork.sdk.fields import TaskFields

if TYPE_CHECKING:
    import argparse

    from ductwork.sdk.task import Task

_PROPERTIES = "properties"


class Hyperparameters(TaskFields):
    _remote: bool

    # ------------------------------------------------------------------ parameters

    def connect(self, mutable: Any, name: str | None = None, ignore_remote_overrides: bool = False) -> Any:
        """Connect a dict, an argparse Namespace, an object (its public attributes) or a model.

        Running locally the values are written to the task (section `name`, default `General`,
        `Args` for a Namespace). Run by an agent or a pipeline, the task's values replace the
        local ones, cast to the local types. A dict comes back as a dict whose later changes are
        written to the task too."""
        from ductwork.sdk.model import InputModel, OutputModel

        if isinstance(mutable, (InputModel, OutputModel)):
            mutable.connect(cast("Task", self), name)
            return mutable
        if _is_namespace(mutable):
            self._connect_namespace(mutable, _section(name or arguments.SECTION), {}, ignore_remote_overrides)
            return mutable
        section = _section(name or params.DEFAULT_SECTION)
        if isinstance(mutable, dict):
            return self._connect_dict(mutable, section, ignore_remote_overrides)
        if mutable is None or isinstance(mutable, (str, bytes, int, float, list, tuple, set)):
            raise ValidationError(
                f"connect: mutable must be a dict, an argparse Namespace, an object or a model, "
                f"got {type(mutable).__name__}"
            )
        self._connect_object(mutable, section, ignore_remote_overrides)
        return mutable

    def _connect_dict(self, values: dict[str, Any], section: str, keep_local: bool = False) -> ConnectedDict:
        flat = params.flatten(values)
        merged = self._sync(section, flat, {}, keep_local)
        if merged != flat:
            values.clear()
            values.update(params.unflatten(merged))
        return ConnectedDict(self, section, values)

    def _connect_namespace(
        self,
        namespace: argparse.Namespace,
        section: str,
        types: Mapping[str, Callable[[str], Any]],
        keep_local: bool = False,
    ) -> None:
        local = {key: value for key, value in vars(namespace).items() if not key.startswith("_")}
        for key, value in self._sync(section, local, types, keep_local).items():
            setattr(namespace, key, value)

    def _connect_object(self, obj: Any, section: str, keep_local: bool = False) -> None:
        local = _public_attributes(obj)
        for key, value in self._sync(section, local, {}, keep_local).items():
            if local.get(key, _NOTHING) is not value:
                setattr(obj, key, value)

    def _sync(
        self,
        section: str,
        local: dict[str, Any],
        types: Mapping[str, Callable[[str], Any]],
        keep_local: bool,
    ) -> dict[str, Any]:
        """Write `local` (running locally) or read the section back over it (run remotely)."""
        if not self._remote or keep_local:
            self._write_params({f"{section}/{key}": params.to_param(value) for key, value in local.items()})
            return local
        stored = {
            key.partition("/")[2]: param
            for key, param in self._backend.get_parameters(self.id).items()
            if key.partition("/")[0] == section
        }
        merged = dict(local)
        for key, param in stored.items():
            label = f"{section}/{key}"
            template = local.get(key)
            if template is None and isinstance(param.value, str) and key in types:
                try:
                    merged[key] = types[key](param.value)
                except Exception as exc:
                    raise ValidationError(f"{label}: cannot read {param.value!r}: {exc}") from None
            elif template is None:
                merged[key] = params.cast_param(param, name=label)
            else:
                merged[key] = params.cast_like(param.value, template, name=label)
        missing = {
            f"{section}/{key}": params.to_param(value) for key, value in local.items() if key not in stored
        }
        if missing:
            self._write_params(missing)
        return merged

    def _write_params(self, values: dict[str, Param], *, replace: bool = False) -> None:
        for key, param in values.items():
            # PostgreSQL text cannot hold NUL (the value itself is JSON, where it is escaped).
            for what, text in (("name", key), ("description", param.description), ("type", param.type)):
                if isinstance(text, str) and "\x00" in text:
                    raise ValidationError(f"parameter {key!r}: its {what} contains a NUL character")
        self._backend.set_parameters(self.id, values, replace=replace)

    def get_parameters(self, backwards_compatibility: bool = True, cast: bool = False) -> dict[str, Any]:
        """`{"Section/name": value}`: strings (as ClearML shows them) unless `cast=True`."""
        stored = self._backend.get_parameters(self.id)
        if cast:
            return {key: params.cast_param(param, name=key) for key, param in stored.items()}
        return {key: params.to_text(param.value) for key, param in stored.items()}

    def get_parameters_as_dict(self, cast: bool = False) -> dict[str, Any]:
        """`{section: {name: value}}` (names with `/` nest further)."""
        nested: dict[str, Any] = {}
        for key, value in self.get_parameters(cast=cast).items():
            section, _, name = key.partition("/")
            nested.setdefault(section, {})[name] = value
        return {section: params.unflatten(values) for section, values in nested.items()}

    def get_parameter(self, name: str, default: Any = None, cast: bool = False) -> Any:
        key = params.full_key(name)
        param = self._backend.get_parameters(self.id).get(key)
        if param is None:
            return default
        return params.cast_param(param, name=key) if cast else params.to_text(param.value)

    def set_parameters(self, *args: Mapping[str, Any], **kwargs: Any) -> None:
        """Replace all parameters with these (`Section/name` keys; bare names go to `General`)."""
        update = bool(kwargs.pop("__update", False))
        self._write_params(_as_params(_merged_args(args, kwargs)), replace=not update)

    def update_parameters(self, *args: Mapping[str, Any], **kwargs: Any) -> None:
        """Add or change these parameters, keeping the others."""
        self._write_params(_as_params(_merged_args(args, kwargs)))

    def set_parameter(
        self, name: str, value: Any, description: str | None = None, value_type: Any = None
    ) -> None:
        type_hint = value_type if isinstance(value_type, str) or value_type is None else value_type.__name__
        self._write_params({params.full_key(name): params.to_param(value, description or "", type_hint)})

    def delete_parameter(self, name: str) -> bool:
        key = params.full_key(name)
        stored = self._backend.get_parameters(self.id)
        if key not in stored:
            return False
        del stored[key]
        self._write_params(stored, replace=True)
        return True

    def set_user_properties(self, *iterables: Any, **properties: Any) -> bool:
        """Properties shown with the task (section `properties`): `name=value` pairs, or dicts
        `{"name": ..., "value": ..., "description": ...}`, or `(name, value)` pairs."""
        values: dict[str, Param] = {}
        for item in iterables:
            entries = item if isinstance(item, (list, tuple)) and not _is_pair(item) else [item]
            for entry in entries:
                if isinstance(entry, Mapping) and "name" in entry:
                    values[f"{_PROPERTIES}/{entry['name']}"] = params.to_param(
                        entry.get("value"), str(entry.get("description", ""))
                    )
                elif isinstance(entry, Mapping):
                    for key, value in entry.items():
                        values[f"{_PROPERTIES}/{key}"] = params.to_param(value)
                elif _is_pair(entry):
                    values[f"{_PROPERTIES}/{entry[0]}"] = params.to_param(entry[1])
                else:
                    raise ValidationError(f"set_user_properties: cannot read a property from {entry!r}")
        for key, value in properties.items():
            values[f"{_PROPERTIES}/{key}"] = params.to_param(value)
        self._write_params(values)
        return True

    def get_user_properties(self, value_only: bool = False) -> dict[str, Any]:
        found = {
            key.partition("/")[2]: param
            for key, param in self._backend.get_parameters(self.id).items()
            if key.startswith(f"{_PROPERTIES}/")
        }
        if value_only:
            return {name: param.value for name, param in found.items()}
        return {
            name: {"name": name, "value": param.value, "type": param.type, "description": param.description}
            for name, param in found.items()
        }

    def delete_user_properties(self, *names: str) -> bool:
        stored = self._backend.get_parameters(self.id)
        keys = {f"{_PROPERTIES}/{name}" for name in names}
        if not keys & stored.keys():
            return False
        self._write_params({k: v for k, v in stored.items() if k not in keys}, replace=True)
        return True

    # ------------------------------------------------------------------ configuration

    def connect_configuration(
        self, configuration: Any, name: str | None = None, description: str | None = None
    ) -> Any:
        """Connect a configuration: a dict or list, a path to a file, or text.

        Locally it is stored; run remotely the stored one is returned (a dict/list is updated in
        place, a file comes back as a local path holding the stored text)."""
        name = _config_name(name)
        if self._remote:
            stored = self._backend.get_configurations(self.id).get(name)
            if stored is not None:
                return config_to_object(configuration, stored, name, self.id)
        self._backend.set_configuration(
            self.id, name, config_from_object(configuration, description or "", name)
        )
        return configuration

    def set_configuration_object(
        self,
        name: str,
        config_text: str | None = None,
        description: str | None = None,
        config_type: str | None = None,
        config_dict: Mapping[str, Any] | Sequence[Any] | None = None,
    ) -> None:
        name = _config_name(name)
        if (config_text is None) == (config_dict is None):
            raise ValidationError(f"set_configuration_object({name!r}): give config_text or config_dict")
        if config_dict is not None:
            config = config_from_object(config_dict, description or "", name)
        else:
            require_str("config_text", config_text)
            config = ConfigObject(
                text=config_text or "", type=config_type or "text", description=description or ""
            )
        if config_type:
            config.type = config_type
        self._backend.set_configuration(self.id, name, config)

    def get_configuration_object(self, name: str) -> str | None:
        stored = self._backend.get_configurations(self.id).get(_config_name(name))
        return None if stored is None else stored.text

    def get_configuration_object_as_dict(self, name: str) -> Any:
        from ductwork.sdk.configuration import parse_text

        stored = self._backend.get_configurations(self.id).get(_config_name(name))
        return None if stored is None else parse_text(stored.text, name, self.id)

    def get_configuration_objects(self) -> dict[str, str]:
        return {name: config.text for name, config in self._backend.get_configurations(self.id).items()}


class ConnectedDict(dict):  # type: ignore[type-arg]
    """A connected dict: changes made through it are written to the task's parameters too."""

    def __init__(self, task: Hyperparameters, section: str, values: Mapping[str, Any]) -> None:
        super().__init__(values)
        self._task = task
        self._section = section
        self._original = values

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        if isinstance(self._original, dict) and self._original is not self:
            self._original[key] = value
        self._write({key: value})

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        changes = dict(*args, **kwargs)
        super().update(changes)
        if isinstance(self._original, dict):
            self._original.update(changes)
        self._write(changes)

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def _write(self, changes: Mapping[str, Any]) -> None:
        flat = params.flatten(changes)
        self._task._write_params({f"{self._section}/{k}": params.to_param(v) for k, v in flat.items()})


class _Nothing:
    pass


_NOTHING = _Nothing()


def _section(name: Any) -> str:
    require_str("name", name)
    if not name or "/" in name:
        raise ValidationError(f"section name must be non-empty and without '/', got {name!r}")
    return str(name)


def _config_name(name: Any) -> str:
    if name is None:
        return params.DEFAULT_SECTION
    require_str("name", name)
    if not name.strip():
        raise ValidationError("configuration name must not be empty")
    return str(name)


def _merged_args(args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in args:
        if isinstance(item, Mapping):
            values.update(item)
        elif isinstance(item, Iterable) and not isinstance(item, (str, bytes)):
            values.update(dict(item))
        else:
            raise ValidationError(f"parameters must be given as a dict, got {type(item).__name__}")
    values.update(kwargs)
    return values


def _as_params(values: Mapping[str, Any]) -> dict[str, Param]:
    result: dict[str, Param] = {}
    for key, value in values.items():
        name = params.full_key(key)
        result[name] = value if isinstance(value, Param) else params.to_param(value)
    return result


def _is_pair(item: Any) -> bool:
    return isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)


def _public_attributes(obj: Any) -> dict[str, Any]:
    """Public data attributes: the class's (for an instance, also those it inherits) and its own."""
    source: dict[str, Any] = {}
    owners = [obj] if isinstance(obj, type) else [*reversed(type(obj).__mro__[:-1]), obj]
    for owner in owners:
        source.update(getattr(owner, "__dict__", {}))
    return {
        name: value
        for name, value in source.items()
        if not name.startswith("_")
        and not callable(value)
        and not isinstance(value, (property, staticmethod, classmethod))
    }


def _is_namespace(value: Any) -> bool:
    """An argparse Namespace (argparse is not imported for this: no Namespace exists without it)."""
    module = sys.modules.get("argparse")
    return module is not None and isinstance(value, module.Namespace)
