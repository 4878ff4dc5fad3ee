"""Tables for `Logger.report_table`: from a pandas DataFrame, a list of rows or a CSV file/URL."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ductwork.core.errors import ValidationError
from ductwork.sdk.reported import JSON, jsonable

if TYPE_CHECKING:
    import pandas as pd

# A table as reported: its column names, then its rows of JSON cells.
Table = tuple[list[str], list[list[JSON]]]


def table_of(table: object, title: str) -> Table:
    module = type(table).__module__
    if module.split(".")[0] == "pandas" and hasattr(table, "itertuples"):
        return frame_table(table)
    if isinstance(table, Sequence) and not isinstance(table, (str, bytes)) and table:
        rows = [list(row) for row in table]
        return [str(cell) for cell in rows[0]], [[jsonable(cell) for cell in row] for row in rows[1:]]
    raise ValidationError(
        f"report_table({title!r}): table_plot must be a pandas DataFrame or a list of rows, "
        f"got {type(table).__name__}"
    )


def frame_table(frame: pd.DataFrame) -> Table:
    import pandas as pd

    keep_index = not isinstance(frame.index, pd.RangeIndex) or frame.index.name is not None
    columns = [str(c) for c in frame.columns]
    if keep_index:
        columns = [str(frame.index.name or ""), *columns]
    rows = [list(row) for row in frame.itertuples(index=keep_index, name=None)]
    return columns, [[jsonable(cell) for cell in row] for row in rows]


def read_csv(location: str, title: str) -> Table:
    from ductwork.artifacts import locations

    try:
        if locations.is_remote(location):
            import fsspec

            with fsspec.open(location, "rt", encoding="utf-8", newline="") as remote:
                text = remote.read()
        else:
            with open(locations.local_path(location), encoding="utf-8", newline="") as local:
                text = local.read()
    except OSError as exc:
        raise ValidationError(f"report_table({title!r}): cannot read CSV {location!r}: {exc}") from exc
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise ValidationError(f"report_table({title!r}): CSV {location!r} is empty")
    return rows[0], [[csv_cell(cell) for cell in row] for row in rows[1:]]


def csv_cell(cell: str) -> int | float | str:
    try:
        return int(cell)
    except ValueError:
        pass
    try:
        return float(cell)
    except ValueError:
        return cell
