"""Cache keys: a hash of exactly what a step runs, and a sentence saying why two keys differ.

A step's key covers its code (function, helpers, the user code it calls), its resolved parameters,
the content hashes of its input artifacts, its requirements, its container and its configuration
objects (the task's Configuration section, by name). Each part gets its
own digest, kept next to the key, so a miss can be explained part by part ("code changed;
parameter 'lr' changed") instead of just "different hash".

Values are encoded with their type before hashing: ``1``, ``1.0``, ``True`` and ``"1"`` are four
different parameters, and so are a list and a tuple. Dict order never matters.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import hashlib
import json
import math
import pathlib
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ductwork.core.errors import ValidationError
from ductwork.core.patterns import Pattern

__all__ = ["SCHEME", "CacheInputs", "explain", "key", "key_of_parts", "parts"]

# Changing how keys are computed must not make old keys match new ones: bump this instead.
SCHEME = "ductwork-cache-1"


@dataclass(frozen=True)
class CacheInputs:
    """Everything that decides what a step computes."""

    code: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    input_hashes: Mapping[str, str] = field(default_factory=dict)  # input name -> artifact sha256
    requirements: Sequence[str] | str = ()
    container: Mapping[str, Any] = field(default_factory=dict)
    configuration: Mapping[str, str] = field(default_factory=dict)  # configuration name -> its text


def parts(inputs: CacheInputs) -> dict[str, str]:
    """A digest for each part of ``inputs``: ``code``, ``parameters``, ``param:<name>`` for each
    parameter, ``input:<name>`` for each input artifact, ``requirements``, ``container`` and
    ``config:<name>`` for each configuration object (none at all for a step without any, so such
    a step's key is what it was before configurations counted)."""
    if not isinstance(inputs.code, str):
        raise ValidationError(f"cache key: code must be a string, got {type(inputs.code).__name__}")
    parameter_digests = {
        name: _digest(_encode(value, f"parameter {name!r}")) for name, value in _items(inputs.parameters)
    }
    input_digests = {
        name: _digest(["input", _input_hash(name, h)]) for name, h in _items(inputs.input_hashes)
    }
    result = {"code": _digest(["code", inputs.code])}
    result["parameters"] = _digest(["parameters", sorted(parameter_digests.items())])
    result.update({f"param:{name}": digest for name, digest in sorted(parameter_digests.items())})
    result.update({f"input:{name}": digest for name, digest in sorted(input_digests.items())})
    result["requirements"] = _digest(["requirements", _requirement_lines(inputs.requirements)])
    result["container"] = _digest(["container", _encode(_container(inputs.container), "container")])
    configs = _items(inputs.configuration)
    result.update({f"config:{name}": _digest(["config", name, str(text)]) for name, text in configs})
    return result


def key(inputs: CacheInputs) -> str:
    """The cache key: sha256 hex of the canonical JSON of ``parts(inputs)`` (stable across processes)."""
    return key_of_parts(parts(inputs))


def key_of_parts(digests: Mapping[str, str]) -> str:
    """The key for parts already computed: ``key_of_parts(parts(x)) == key(x)``, hashing once."""
    return _digest([SCHEME, sorted(digests.items())])


def explain(old_parts: Mapping[str, str], new_parts: Mapping[str, str]) -> str:
    """Why two keys differ, in a short sentence ("code changed; input 'data' changed"), or "identical"."""
    if dict(old_parts) == dict(new_parts):
        return "identical"
    if not old_parts:
        return "no earlier run to compare with"
    reasons: list[str] = []
    for part in ("code", "requirements", "container"):
        if old_parts.get(part) != new_parts.get(part):
            reasons.append(f"{part} changed")
    for prefix, label in (("param:", "parameter"), ("input:", "input"), ("config:", "configuration")):
        reasons.extend(_named_changes(old_parts, new_parts, prefix, label))
    if not reasons:
        other = sorted(k for k in {*old_parts, *new_parts} if old_parts.get(k) != new_parts.get(k))
        reasons = [f"{'parameters' if other == ['parameters'] else ', '.join(other)} changed"]
    return "; ".join(reasons)


def _named_changes(old: Mapping[str, str], new: Mapping[str, str], prefix: str, label: str) -> list[str]:
    names = sorted({k for k in (*old, *new) if k.startswith(prefix)})
    changes = []
    for part in names:
        name = part[len(prefix) :]
        if part not in old:
            changes.append(f"{label} {name!r} added")
        elif part not in new:
            changes.append(f"{label} {name!r} removed")
        elif old[part] != new[part]:
            changes.append(f"{label} {name!r} changed")
    return changes


# -- canonical encoding ---------------------------------------------------------------------------


# One encoder for every digest: json.dumps with options builds a new one per call, which is slow.
_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _digest(value: Any) -> str:
    return hashlib.sha256(_JSON.encode(value).encode("utf-8")).hexdigest()


def _items(mapping: Mapping[str, Any]) -> list[tuple[str, Any]]:
    if not isinstance(mapping, Mapping):
        raise ValidationError(f"cache key: expected a mapping of names, got {type(mapping).__name__}")
    for name in mapping:
        if not isinstance(name, str):
            raise ValidationError(f"cache key: names must be strings, got {name!r}")
    return list(mapping.items())


def _input_hash(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError(f"cache key: input {name!r} needs its artifact's content hash, got {value!r}")
    return value


def _encode(value: Any, where: str, depth: int = 0) -> Any:
    """``value`` as JSON that names its type, so values of different types never collide."""
    if depth > 100:
        raise ValidationError(f"cache key: {where} is nested too deeply (or contains itself)")
    kind = type(value)
    if kind is str or value is None:  # the common cases first, without isinstance chains
        return value
    if kind is int:
        return ["int", str(value)]
    if isinstance(value, enum.Enum):  # before str and int: StrEnum and IntEnum members are those too
        return ["enum", f"{kind.__module__}.{kind.__qualname__}", _encode(value.value, where, depth + 1)]
    if value is None or isinstance(value, str):
        return value if type(value) is str or value is None else str(value)  # JSON keeps these apart
    if isinstance(value, bool):
        return ["bool", value]
    if isinstance(value, int):
        return ["int", str(int(value))]
    if isinstance(value, float):
        return ["float", repr(value) if math.isfinite(value) else str(value)]
    if isinstance(value, (bytes, bytearray)):
        return ["bytes", bytes(value).hex()]
    if isinstance(value, Mapping):
        items = [[_encode(k, where, depth + 1), _encode(v, where, depth + 1)] for k, v in value.items()]
        return ["dict", sorted(items, key=_sort_text)]
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return ["namedtuple", type(value).__qualname__, [_encode(v, where, depth + 1) for v in value]]
    if isinstance(value, (list, tuple)):
        return [type(value).__name__, [_encode(v, where, depth + 1) for v in value]]
    if isinstance(value, (set, frozenset)):
        return ["set", sorted((_encode(v, where, depth + 1) for v in value), key=_sort_text)]
    return _encode_other(value, where, depth)


def _loaded_classes(*names: tuple[str, str]) -> tuple[type, ...]:
    """The classes `(module, name)` of modules this process imported: a value of a class whose
    module was never imported cannot exist, so checking for it need not import it."""
    return tuple(getattr(sys.modules[module], name) for module, name in names if module in sys.modules)


def _encode_other(value: Any, where: str, depth: int) -> Any:
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return [type(value).__name__, value.isoformat()]
    if isinstance(value, datetime.timedelta):
        return ["timedelta", value.days, value.seconds, value.microseconds]
    if isinstance(value, (pathlib.PurePath, *_loaded_classes(("decimal", "Decimal"), ("uuid", "UUID")))):
        return [type(value).__name__, str(value)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {
            f.name: _encode(getattr(value, f.name), where, depth + 1) for f in dataclasses.fields(value)
        }
        return ["dataclass", f"{type(value).__module__}.{type(value).__qualname__}", fields]
    if _is_numpy(value):
        # numpy scalars and arrays, by dtype, shape and bytes; numpy itself is never imported here
        data = value.tobytes() if hasattr(value, "tobytes") else b""
        digest = hashlib.sha256(data).hexdigest()
        return ["ndarray", str(value.dtype), list(getattr(value, "shape", ())), digest]
    raise ValidationError(
        f"cache key: {where} is a {type(value).__module__}.{type(value).__qualname__}, which has no "
        f"stable hash; pass it as an artifact, or as plain values (numbers, strings, lists, dicts)"
    )


def _is_numpy(value: Any) -> bool:
    module = type(value).__module__ or ""
    return module.partition(".")[0] == "numpy" and hasattr(value, "dtype")


def _sort_text(encoded: Any) -> str:
    return _JSON.encode(encoded)


_REQUIREMENT_NAME = Pattern(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(.*)$")
_COMMENT = Pattern(r"(^|\s)#.*$")  # as pip reads it: "pkg @ url#egg=x" keeps its fragment


def _requirement_lines(requirements: Sequence[str] | str) -> list[str]:
    """Requirement lines normalised so spelling does not change the key: no blanks, no comments,
    no spaces, project names in PEP 503 form (``Scikit_Learn`` = ``scikit-learn``), sorted."""
    if isinstance(requirements, str):
        lines = requirements.splitlines()
    elif isinstance(requirements, Sequence):
        lines = list(requirements)
    else:
        raise ValidationError(
            f"cache key: requirements must be lines of text, got {type(requirements).__name__}"
        )
    normalised = set()
    for line in lines:
        if not isinstance(line, str):
            raise ValidationError(f"cache key: requirement {line!r} is not a string")
        text = _COMMENT.sub("", line).strip().replace(" ", "")
        if not text:
            continue
        match = _REQUIREMENT_NAME.match(text)
        if match:
            text = re.sub(r"[-_.]+", "-", match.group(1)).lower() + match.group(2)
        normalised.add(text)
    return sorted(normalised)


def _container(container: Mapping[str, Any]) -> dict[str, Any]:
    """The container settings without empty entries: ``{"image": None}`` means no image, as ``{}``."""
    if container is None:
        return {}
    if not isinstance(container, Mapping):
        raise ValidationError(f"cache key: container must be a mapping, got {type(container).__name__}")
    return {k: v for k, v in container.items() if v not in (None, "", [], {}, ())}
