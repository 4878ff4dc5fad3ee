"""argparse capture: the result of `parse_args` is connected to the `Args` section.

Patched when `ductwork.sdk.task` is imported, so arguments parsed before `Task.init` are
connected by `Task.init`; later ones at once. Running locally the values are written; under an
agent the backend's values replace them in the same Namespace (cast to each argument's type).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING

from ductwork.sdk import current
from ductwork.sdk.capture import hooks
from ductwork.sdk.capture.console import original_stderr
from ductwork.sdk.connected import Reader, connect_namespace
from ductwork.sdk.taskcore import TaskCore

if TYPE_CHECKING:
    import argparse

SECTION = "Args"

_lock = threading.Lock()
_parsed: list[tuple[argparse.ArgumentParser, argparse.Namespace]] = []
_original: list[Callable[..., object] | None] = [None]


def install() -> None:
    """Patch argparse now if it is imported, else as soon as it is (we never import it ourselves)."""
    hooks.on_import("argparse", _patch)


def _patch(module: ModuleType) -> None:
    with _lock:
        if _original[0] is not None:
            return
        original = module.ArgumentParser.parse_known_args
        _original[0] = original

    def parse_known_args(
        self: argparse.ArgumentParser,
        args: Sequence[str] | None = None,
        namespace: argparse.Namespace | None = None,
    ) -> tuple[argparse.Namespace, list[str]]:
        namespace, extras = original(self, args, namespace)
        try:
            _remember(self, namespace)
        except Exception as exc:  # capture must never break argument parsing
            print(f"ductwork: argparse capture failed: {exc}", file=original_stderr())
        return namespace, extras

    module.ArgumentParser.parse_known_args = parse_known_args


def _remember(parser: argparse.ArgumentParser, namespace: argparse.Namespace) -> None:
    # Sub-parsers call parse_known_args again on the same namespace; keep the outermost call.
    with _lock:
        for index, (_, known) in enumerate(_parsed):
            if known is namespace:
                _parsed[index] = (parser, namespace) if parser is _parsed[index][0] else _parsed[index]
                break
        else:
            _parsed.append((parser, namespace))
    task = current.main_task()
    if task is not None and task._captures_args:
        connect(task, parser, namespace)


def forget_parsed() -> None:
    """Forget the arguments parsed so far (tests; a process that starts over)."""
    with _lock:
        _parsed.clear()


def connect_parsed(task: TaskCore) -> None:
    """At Task.init: connect what was parsed before it."""
    with _lock:
        parsed = list(_parsed)
    for parser, namespace in parsed:
        connect(task, parser, namespace)


def connect(task: TaskCore, parser: argparse.ArgumentParser, namespace: argparse.Namespace) -> None:
    types: dict[str, Reader] = {}
    for action in parser._actions:
        if action.dest in ("==SUPPRESS==", "help") or action.dest.startswith("_"):
            continue
        if callable(action.type):
            types[action.dest] = action.type
    connect_namespace(task, namespace, SECTION, types)
