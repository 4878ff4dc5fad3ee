"""Checking and normalising what users pass to pipelines: names, containers, packages, values."""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping, Sequence
from typing import Any

from ductwork.core.errors import ValidationError
from ductwork.core.records import Param


def version_ok(text: str) -> bool:
    from ductwork.core import version

    return isinstance(text, str) and version.is_valid(text)


def need_text(what: str, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{what} must be a non-empty str, got {value!r}")


def container(image: str | None, arguments: str | None, setup: str | None) -> dict[str, Any]:
    out = {"image": image, "arguments": arguments, "setup_shell_script": setup}
    return {k: v for k, v in out.items() if v}


def package_list(packages: bool | str | Sequence[str] | None) -> list[str] | None:
    if packages is None or packages is True:
        return None
    if packages is False:
        return []
    if isinstance(packages, str):
        if os.path.isfile(packages):
            with open(packages, encoding="utf-8") as handle:
                return [line.strip() for line in handle if line.strip() and not line.startswith("#")]
        return [packages]
    return [str(p) for p in packages]


def user_name() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return ""


def param_value(params: Mapping[str, Param], key: str, default: Any) -> Any:
    param = params.get(key)
    return default if param is None else param.value


def max_workers(mode: str) -> int:
    configured = os.environ.get("DUCTWORK_MAX_WORKERS")
    if configured:
        return max(1, int(configured))
    cpus = os.cpu_count() or 1
    return {"debug": max(8, cpus * 4), "local": max(16, cpus * 8)}.get(mode, 1000)


def check_serializable(step: str, key: str, value: Any) -> None:
    """Values that are not JSON are stored as artifacts: check early that they can be."""
    kind = type(value)
    if kind.__module__.split(".")[0] in ("numpy", "pandas", "PIL", "pyarrow"):
        return
    import pickle

    try:
        pickle.dumps(value)
    except Exception as exc:
        reason = exc
        if callable(value):  # functions and closures travel with cloudpickle
            try:
                import cloudpickle

                cloudpickle.dumps(value)
                return
            except Exception as again:
                reason = again
        raise ValidationError(
            f"step {step!r} argument {key!r}: a {kind.__name__} cannot be stored ({reason})"
        ) from None
