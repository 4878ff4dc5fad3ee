"""What a task asks of the Ray cluster: CPUs, GPUs, memory and custom resources.

One shape everywhere, Ray's own resource names and amounts as a JSON object:
`{"CPU": 2, "GPU": 1, "memory": 4e9, "special": 1}` (`memory` in bytes). A task asks for one
CPU (Ray's default), then what the agent's `--resources QUEUE=JSON` gives its queue, then what
its own runtime property `resources` says (set by `add_step(task_overrides={"runtime.resources":
{...}})`, `Task.set_runtime_properties` on a base task, or a pre-execute callback editing
`node.task_overrides`), each overriding the one before key by key; an amount of 0 drops a key.

The task's value is user input that crosses the API, so it is checked here, before anything is
submitted: an object of at most `MAX_KEYS` names of Ray's resource-name shape, each a finite
number from 0 to `MAX_AMOUNT`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from ductwork.core.errors import ValidationError
from ductwork.core.patterns import Pattern

RUNTIME_KEY = "resources"  # the task's runtime property
DEFAULT: dict[str, float] = {"CPU": 1.0}
MAX_KEYS = 32
MAX_AMOUNT = 1e18  # memory is counted in bytes
_NAME = Pattern(r"[A-Za-z_][A-Za-z0-9_.:/-]{0,99}")
# Ray's names for the resources it has options of their own for; the rest go in `resources`.
_OWN_OPTIONS = {"CPU": "num_cpus", "GPU": "num_gpus", "memory": "memory"}


def checked(value: object, where: str) -> dict[str, float]:
    """`value` as resource amounts, or a `ValidationError` saying what is wrong with it."""
    if not isinstance(value, Mapping):
        raise ValidationError(f'{where}: resources must be a JSON object such as {{"GPU": 1}}')
    if len(value) > MAX_KEYS:
        raise ValidationError(f"{where}: at most {MAX_KEYS} resources, got {len(value)}")
    amounts: dict[str, float] = {}
    for name, amount in value.items():
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValidationError(f"{where}: {str(name)[:40]!r} is not a resource name")
        if isinstance(amount, bool) or not isinstance(amount, (int, float)):
            raise ValidationError(f"{where}: resource {name!r} must be a number")
        if not math.isfinite(amount) or not 0 <= amount <= MAX_AMOUNT:
            raise ValidationError(f"{where}: resource {name!r} must be between 0 and {MAX_AMOUNT:g}")
        amounts[name] = float(amount)
    return amounts


def parse_queue(option: str) -> tuple[str, dict[str, float]]:
    """`--resources QUEUE=JSON` -> (queue, amounts)."""
    queue, sep, text = option.partition("=")
    if not sep or not queue:
        raise ValidationError(f"--resources {option[:60]!r}: expected QUEUE=JSON, e.g. gpu='{{\"GPU\": 1}}'")
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ValidationError(f"--resources {queue}: not JSON ({exc})") from exc
    return queue, checked(value, f"--resources {queue}")


def asked(queue: Mapping[str, float] | None, task: object, task_id: str) -> dict[str, float]:
    """What a task asks for: `DEFAULT`, overridden by its queue's amounts, then by its own."""
    amounts = {**DEFAULT, **(queue or {})}
    if task is not None:
        amounts.update(checked(task, f"task {task_id}: runtime.{RUNTIME_KEY}"))
    return {name: amount for name, amount in amounts.items() if amount > 0}


def ray_options(amounts: Mapping[str, float]) -> dict[str, Any]:
    """Amounts as options of a Ray task (`num_cpus`, `num_gpus`, `memory`, `resources`);
    CPU is always given, 0 when not asked, so Ray's default of one does not creep back in."""
    options: dict[str, Any] = {"num_cpus": 0}
    custom: dict[str, float] = {}
    for name, amount in amounts.items():
        if name in _OWN_OPTIONS:
            options[_OWN_OPTIONS[name]] = int(amount) if name == "memory" else amount
        else:
            custom[name] = amount
    if custom:
        options["resources"] = custom
    return options


def describe(amounts: Mapping[str, float]) -> str:
    """`CPU 1, special 1` (a console line's words)."""
    return ", ".join(f"{name} {amount:g}" for name, amount in sorted(amounts.items())) or "no resources"
