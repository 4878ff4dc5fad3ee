"""The hashes a storage sweep must keep: every artifact, model and image event's, nothing else."""

from __future__ import annotations

from ductwork.core.records import ArtifactRecord, MetricEvent, ModelRecord, TaskRecord
from ductwork.store import Store


def test_referenced_hashes_follow_the_records(store: Store) -> None:
    kept = store.create_task(TaskRecord(name="kept"))
    gone = store.create_task(TaskRecord(name="gone"))
    store.put_artifact(ArtifactRecord(kept.id, "shared", hash="a" * 64, size=1))
    store.put_artifact(ArtifactRecord(gone.id, "shared", hash="a" * 64, size=1))
    store.put_artifact(ArtifactRecord(gone.id, "own", hash="b" * 64, size=1))
    store.put_artifact(ArtifactRecord(kept.id, "inline", type="json", inline="{}"))  # no hash: no blob
    store.put_model(ModelRecord(name="weights", task_id=gone.id, hash="c" * 64))  # outlives its task
    picture = {"artifact": {"hash": "d" * 64, "uri": "x"}, "content_type": "image/png"}
    store.add_events(
        [
            MetricEvent(kept.id, "image", "sample", "s", 0, None, picture),
            MetricEvent(gone.id, "image", "sample", "s", 0, None, {"artifact": {"hash": "e" * 64}}),
            MetricEvent(kept.id, "plot", "fig", "s", 0, None, {"data": [], "layout": {"hash": "f" * 64}}),
            MetricEvent(kept.id, "text", "note", "", 0, None, "plain text"),
            MetricEvent(kept.id, "scalar", "loss", "train", 0, 0.5),
        ]
    )
    everything = {"a" * 64, "b" * 64, "c" * 64, "d" * 64, "e" * 64}
    assert store.referenced_hashes() == everything

    store.delete_task(gone.id)
    assert store.referenced_hashes() == {"a" * 64, "c" * 64, "d" * 64}
