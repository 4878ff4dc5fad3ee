"""Plot parts: the (x, y) points of a series and the layout of a plotly figure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ductwork.core.errors import ValidationError


def xy(data: Any, title: str, series: str) -> tuple[list[Any], list[Any]]:
    if hasattr(data, "tolist"):
        data = data.tolist()
    xs, ys = [], []
    try:
        for x, y in data:
            xs.append(x)
            ys.append(y)
    except (TypeError, ValueError):
        raise ValidationError(f"{title}/{series}: data must be (x, y) pairs or an N x 2 array") from None
    return xs, ys


def layout(
    title: str,
    xaxis: str | None,
    yaxis: str | None,
    extra: Mapping[str, object] | None,
    *,
    reverse_xaxis: bool = False,
    **more: object,
) -> dict[str, object]:
    """A plotly layout: title and axis titles, then `more`, then the caller's `extra` over them."""
    layout: dict[str, Any] = {
        "title": {"text": title},
        "xaxis": {"title": {"text": xaxis or ""}},
        "yaxis": {"title": {"text": yaxis or ""}},
        **more,
    }
    layout.update(extra or {})
    if reverse_xaxis:
        layout["xaxis"]["autorange"] = "reversed"
    return dict(layout)
