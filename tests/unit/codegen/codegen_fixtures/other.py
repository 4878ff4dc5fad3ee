"""Another user module with a function named like one in helpers."""

from __future__ import annotations


def scale(x: float) -> float:
    return x / 2
