"""Artifact previews read from the stored bytes: a table's head, an array's summary, JSON, text.

The SDK stores a short text preview with every artifact (and users may replace it with their
own words); the page shows that at once and asks for this richer one when the card scrolls into
view. Each reader looks at a bounded part of the file (the first row group, the first lines, an
array through a memory map), so a preview never costs a full read of a large artifact. numpy and
pyarrow are optional: without them, the stored text preview is what there is. Artifacts in
object storage are read from the server's cache of them (downloaded once, hash-checked).
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from typing import Any

from ductwork.core.errors import NotFound
from ductwork.core.records import ArtifactRecord
from ductwork.server.services import locations
from ductwork.server.services.hub import Hub

HEAD_ROWS = 10
TEXT_BYTES = 20_000
ARRAY_STATS_LIMIT = 50_000_000  # elements; beyond this, min/max/mean would read too much
# Artifacts in object storage are previewed from a local copy: larger ones keep their stored
# text preview rather than make a page wait for a download.
REMOTE_PREVIEW_MAX_BYTES = 64 << 20


@dataclass
class Preview:
    kind: str  # "table", "array", "json", "text", "image" or "none"
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    total_rows: int | None = None
    facts: dict[str, str] = field(default_factory=dict)  # array shape, dtype, min, max, ...
    text: str = ""


def artifact_preview(hub: Hub, task_id: str, name: str) -> tuple[ArtifactRecord, Preview]:
    record = next((a for a in hub.store.get_artifacts(task_id) if a.name == name), None)
    if record is None:
        raise NotFound(f"task {task_id} has no artifact {name!r}")
    if record.type == "image":
        return record, Preview(kind="image")
    if record.inline is not None and not record.uri:
        return record, _json_text(record.inline)
    path = _local_file(hub, record)
    if path is None:
        return record, Preview(kind="none")
    try:
        return record, _read(record, path)
    except Exception:  # a damaged or unexpected file: the stored text preview still stands
        return record, Preview(kind="none")


def _local_file(hub: Hub, record: ArtifactRecord) -> str | None:
    """The artifact's file where the storage rule allows (`services.locations`): its own on
    this server's disk, or a cached, hash-checked copy from object storage when not too big."""
    return locations.readable_copy(hub.storage, record, max_bytes=REMOTE_PREVIEW_MAX_BYTES)


def _read(record: ArtifactRecord, path: str) -> Preview:
    suffix = path.lower().rsplit(".", 1)[-1] if "." in os.path.basename(path) else ""
    content_type = record.content_type.split(";")[0].strip()
    if suffix == "parquet":
        return _parquet_head(path)
    if suffix == "npy":
        return _array_summary(path)
    if suffix in ("csv", "tsv") or content_type in ("text/csv", "text/tab-separated-values"):
        return _csv_head(path, "\t" if suffix == "tsv" else ",")
    if suffix == "json" or content_type == "application/json":
        return _json_text(_head_text(path))
    if suffix in ("txt", "log", "md", "yaml", "yml", "py") or content_type.startswith("text/"):
        return Preview(kind="text", text=_head_text(path))
    return Preview(kind="none")


def _parquet_head(path: str) -> Preview:
    import pyarrow.parquet as pq

    table = pq.ParquetFile(path)
    total = table.metadata.num_rows
    if table.num_row_groups == 0:
        return Preview(kind="table", columns=list(table.schema_arrow.names), total_rows=0)
    head = table.read_row_group(0).slice(0, HEAD_ROWS)
    columns = [str(c) for c in head.column_names if not str(c).startswith("__index_level_")]
    rows = [[_cell(row.get(c)) for c in columns] for row in head.to_pylist()]
    return Preview(kind="table", columns=columns, rows=rows, total_rows=total)


def _csv_head(path: str, delimiter: str) -> Preview:
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        lines = [row for _, row in zip(range(HEAD_ROWS + 1), reader, strict=False)]
    if not lines:
        return Preview(kind="text", text="")
    return Preview(kind="table", columns=lines[0], rows=[[_cell(v) for v in r] for r in lines[1:]])


def _array_summary(path: str) -> Preview:
    import numpy as np

    array = np.load(path, mmap_mode="r", allow_pickle=False)
    facts = {"shape": str(tuple(array.shape)), "dtype": str(array.dtype)}
    facts["size"] = f"{array.size:,} elements"
    if array.size and array.dtype.kind in "biuf" and array.size <= ARRAY_STATS_LIMIT:
        facts["min"] = f"{array.min():.6g}"
        facts["max"] = f"{array.max():.6g}"
        facts["mean"] = f"{array.mean(dtype=np.float64):.6g}"
        if array.dtype.kind == "f":
            facts["NaN"] = f"{int(np.isnan(array).sum()):,}"
    first = np.asarray(array.reshape(-1)[:8]).tolist() if array.size else []
    text = ", ".join(_cell(v) for v in first) + (", …" if array.size > len(first) else "")
    return Preview(kind="array", facts=facts, text=f"[{text}]")


def _json_text(text: str) -> Preview:
    try:
        value = json.loads(text)
    except ValueError:
        return Preview(kind="json", text=text[:TEXT_BYTES])  # clipped mid-document: as it is
    if isinstance(value, str):
        return Preview(kind="text", text=value[:TEXT_BYTES])  # a string artifact reads as text
    return Preview(kind="json", text=json.dumps(value, indent=2, ensure_ascii=False)[:TEXT_BYTES])


def _head_text(path: str) -> str:
    with open(path, "rb") as handle:
        data = handle.read(TEXT_BYTES + 1)
    text = data[:TEXT_BYTES].decode("utf-8", errors="replace")
    return text + ("\n…" if len(data) > TEXT_BYTES else "")


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    text = "" if value is None else str(value)
    return text if len(text) <= 80 else text[:79] + "…"
