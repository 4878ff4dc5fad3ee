"""`Hyperparameters`: parameters and configuration objects of a task, and `connect()`.

Running locally, connected values are written to the task. Run by an agent or a pipeline
(`_remote`), the task's stored values are read back over the local ones, cast to the local
types, so an int stays an int and a list a list (`connected` does it).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeGuard

from ductwork.core.errors import ValidationError
from ductwork.core.records import ConfigObject, Param
from ductwork.sdk import params
from ductwork.sdk.capture import arguments
from ductwork.sdk.checks import as_str, require_str
from ductwork.sdk.configuration import config_from_object, config_to_object, parse_text
from ductwork.sdk.connected import connect_dict, connect_namespace, connect_object, write_params
from ductwork.sdk.fields import TaskFields
from ductwork.sdk.model import InputModel, OutputModel

if TYPE_CHECKING:
    import argparse

_PROPERTIES = "properties"


class Hyperparameters(TaskFields):
    # ------------------------------------------------------------------ parameters

    def connect(self, mutable: Any, name: str | None = None, ignore_remote_overrides: bool = False) -> Any:
        """Connect a dict, an argparse Namespace, an object (its public attributes) or a model.

        Running locally the values are written to the task (section `name`, default `General`,
        `Args` for a Namespace). Run by an agent or a pipeline, the task's values replace the
        local ones, cast to the local types. A dict comes back as a dict whose later changes are
        written to the task too."""
        if isinstance(mutable, (InputModel, OutputModel)):
            mutable.connect(self, name)
            return mutable
        if _is_namespace(mutable):
            connect_namespace(self, mutable, _section(name or arguments.SECTION), {}, ignore_remote_overrides)
            return mutable
        section = _section(name or params.DEFAULT_SECTION)
        if isinstance(mutable, dict):
            return connect_dict(self, mutable, section, ignore_remote_overrides)
        if mutable is None or isinstance(mutable, (str, bytes, int, float, list, tuple, set)):
            raise ValidationError(
                f"connect: mutable must be a dict, an argparse Namespace, an object or a model, "
                f"got {type(mutable).__name__}"
            )
        connect_object(self, mutable, section, ignore_remote_overrides)
        return mutable

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
        write_params(self, _as_params(_merged_args(args, kwargs)), replace=not update)

    def update_parameters(self, *args: Mapping[str, Any], **kwargs: Any) -> None:
        """Add or change these parameters, keeping the others."""
        write_params(self, _as_params(_merged_args(args, kwargs)))

    def set_parameter(
        self, name: str, value: Any, description: str | None = None, value_type: str | type | None = None
    ) -> None:
        type_hint = value_type if isinstance(value_type, str) or value_type is None else value_type.__name__
        write_params(self, {params.full_key(name): params.to_param(value, description or "", type_hint)})

    def delete_parameter(self, name: str) -> bool:
        key = params.full_key(name)
        stored = self._backend.get_parameters(self.id)
        if key not in stored:
            return False
        del stored[key]
        write_params(self, stored, replace=True)
        return True

    def set_user_properties(self, *iterables: object, **properties: Any) -> bool:
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
        write_params(self, values)
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
        write_params(self, {k: v for k, v in stored.items() if k not in keys}, replace=True)
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
        stored = self._backend.get_configurations(self.id).get(_config_name(name))
        return None if stored is None else parse_text(stored.text, name, self.id)

    def get_configuration_objects(self) -> dict[str, str]:
        return {name: config.text for name, config in self._backend.get_configurations(self.id).items()}


def _section(name: object) -> str:
    text = as_str("name", name)
    if not text or "/" in text:
        raise ValidationError(f"section name must be non-empty and without '/', got {text!r}")
    return text


def _config_name(name: object) -> str:
    if name is None:
        return params.DEFAULT_SECTION
    text = as_str("name", name)
    if not text.strip():
        raise ValidationError("configuration name must not be empty")
    return text


def _merged_args(args: Sequence[object], kwargs: Mapping[str, Any]) -> dict[str, Any]:
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


def _is_pair(item: object) -> TypeGuard[tuple[str, Any]]:
    return isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)


def _is_namespace(value: object) -> TypeGuard[argparse.Namespace]:
    """An argparse Namespace (argparse is not imported for this: no Namespace exists without it)."""
    module = sys.modules.get("argparse")
    return module is not None and isinstance(value, module.Namespace)
