"""Content-addressed artifact storage (local folders or fsspec URLs), serializers and previews.

from ductwork.artifacts import store_for
record = store_for(None).save(task_id, "weights", array)   # -> ArtifactRecord
array = store_for(None).load(record)
"""

from ductwork.artifacts.store import INLINE_LIMIT, ArtifactStore, store_for

__all__ = ["INLINE_LIMIT", "ArtifactStore", "store_for"]
