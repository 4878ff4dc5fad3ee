"""Artifact previews read from the stored files: table heads, array summaries, JSON and text."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from ductwork.core.records import ArtifactRecord, TaskRecord

np = pytest.importorskip("numpy")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def _stored(store: Any, root: Path, task_id: str, name: str, kind: str, filename: str, data: bytes) -> None:
    path = root / "blobs" / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    store.put_artifact(
        ArtifactRecord(
            task_id=task_id, name=name, type=kind, uri=str(path), size=len(data), preview=f"{name} preview"
        )
    )


def test_table_head_array_summary_json_and_text(
    web: TestClient, store: Any, artifacts_root: Path, tmp_path: Path
) -> None:
    task = store.create_task(TaskRecord(name="producer"))
    table = pa.table({"id": list(range(500)), "label": [f"item {i}" for i in range(500)]})
    parquet = tmp_path / "t.parquet"
    pq.write_table(table, parquet, row_group_size=100)
    _stored(store, artifacts_root, task.id, "table", "pandas", "t.parquet", parquet.read_bytes())
    array = tmp_path / "a.npy"
    np.save(array, np.arange(12, dtype=np.float32).reshape(3, 4))
    _stored(store, artifacts_root, task.id, "weights", "numpy", "a.npy", array.read_bytes())
    _stored(store, artifacts_root, task.id, "rows", "file", "r.csv", b"a,b\n1,2\n3,4\n")
    _stored(store, artifacts_root, task.id, "notes", "str", "n.txt", b"hello " * 5000)
    store.put_artifact(
        ArtifactRecord(task_id=task.id, name="config", type="json", inline='{"b": [1, 2], "a": 1}')
    )
    store.put_artifact(ArtifactRecord(task_id=task.id, name="motto", type="str", inline='"less is more"'))

    def preview(name: str) -> Any:
        return web.get(f"/tasks/{task.id}/artifact-preview/{name}")

    head = preview("table").text
    assert re.findall(r"<th>(\w+)</th>", head) == ["id", "label"]
    assert "<td>item 9</td>" in head and "item 10" not in head
    assert "first 10 of 500 rows" in head

    summary = preview("weights").text
    for fact in ("(3, 4)", "float32", "12 elements", "<code>0</code>", "<code>11</code>", "<code>5.5</code>"):
        assert fact in summary
    assert "[0, 1, 2, 3, 4, 5, 6, 7, …]" in summary

    csv_head = preview("rows").text
    assert re.findall(r"<th>(\w)</th>", csv_head) == ["a", "b"] and "<td>3</td>" in csv_head
    assert "&#34;b&#34;: [\n    1," in preview("config").text
    assert '<pre class="preview preview-text">less is more</pre>' in preview("motto").text
    text = preview("notes").text
    assert "hello hello" in text and text.count("hello") < 5000

    page = web.get(f"/tasks/{task.id}", params={"tab": "artifacts"}).text
    assert f'hx-get="/tasks/{task.id}/artifact-preview/table"' in page and "table preview" in page


def test_no_preview_beyond_the_stored_one_for_unknown_or_outside_files(
    web: TestClient, store: Any, artifacts_root: Path, tmp_path: Path
) -> None:
    task = store.create_task(TaskRecord(name="producer"))
    _stored(store, artifacts_root, task.id, "blob", "pickle", "x.pkl", b"\x80\x04K\x01.")
    _stored(store, artifacts_root, task.id, "broken", "numpy", "bad.npy", b"not an array")
    outside = tmp_path / "outside.csv"
    outside.write_text("secret,data\n1,2\n")
    store.put_artifact(ArtifactRecord(task_id=task.id, name="outside", type="file", uri=str(outside)))
    for name in ("blob", "broken", "outside"):
        answer = web.get(f"/tasks/{task.id}/artifact-preview/{name}")
        assert answer.status_code == 204 and answer.text == "", name
    assert web.get(f"/tasks/{task.id}/artifact-preview/none").status_code == 404
