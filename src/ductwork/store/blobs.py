"""The content hashes the records still point at: what a storage sweep must keep.

Blobs are shared by content (two artifacts with the same bytes are one file), so deleting a task
cannot delete its blobs; only a sweep that knows every hash still referenced can
(`artifacts.collect`). Three kinds of record name a blob: artifacts, models, and reported points
whose payload carries an artifact record (the pictures `Logger.report_image` and the media
`report_media` upload), kept in the chunks' payload lists.
"""

from __future__ import annotations

from ductwork.store.sql import Conn


def referenced(conn: Conn) -> set[str]:
    found = {digest for (digest,) in conn.rows("SELECT DISTINCT hash FROM artifacts")}
    found.update(digest for (digest,) in conn.rows("SELECT DISTINCT hash FROM models"))
    # In SQL rather than decoding every chunk's payloads: plots and tables carry large ones.
    if conn.pg:
        each = "SELECT DISTINCT p -> 'artifact' ->> 'hash' FROM chunks, jsonb_array_elements(payloads) p"
        query = each + " WHERE payloads IS NOT NULL AND jsonb_typeof(p) = 'object'"
    else:  # json_each gives a string element as plain text: only objects are JSON to look into
        each = "SELECT DISTINCT json_extract(p.value, '$.artifact.hash') FROM chunks, json_each(payloads) p"
        query = each + " WHERE payloads IS NOT NULL AND p.type = 'object'"
    found.update(digest for (digest,) in conn.rows(query) if isinstance(digest, str))
    found.discard("")
    return found
