"""The content hashes the records still point at: what a storage sweep must keep.

Blobs are shared by content (two artifacts with the same bytes are one file), so deleting a task
cannot delete its blobs; only a sweep that knows every hash still referenced can
(`artifacts.collect`). Three kinds of record name a blob: artifacts, models, and events whose
payload carries an artifact record (the pictures `Logger.report_image` uploads).
"""

from __future__ import annotations

from ductwork.store.sql import Conn


def referenced(conn: Conn) -> set[str]:
    found = {digest for (digest,) in conn.rows("SELECT DISTINCT hash FROM artifacts")}
    found.update(digest for (digest,) in conn.rows("SELECT DISTINCT hash FROM models"))
    # In SQL rather than decoding every payload: plots and tables carry large payloads.
    path = "payload -> 'artifact' ->> 'hash'" if conn.pg else "json_extract(payload, '$.artifact.hash')"
    found.update(
        digest
        for (digest,) in conn.rows(f"SELECT DISTINCT {path} FROM events WHERE payload IS NOT NULL")
        if isinstance(digest, str)
    )
    found.discard("")
    return found
