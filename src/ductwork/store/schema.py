"""The columns the queries need to know, derived from `tables.py` (the schema the Alembic chain
creates): each column's kind and bounds (what `bounds` checks before a write) and how its values
travel (`json`: JSON text on SQLite, jsonb on PostgreSQL; `bool`: 0/1 on SQLite).

Generated: `python3 tests/unit/store/test_store_schema.py` rewrites it, and that test fails
when it differs from `tables.py`. Plain data, so the queries never import SQLAlchemy.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "int", "str", "text", "float", "bool", "any"
    nullable: bool
    low: int = 0
    high: int = 0  # int: the range; str: the length
    finite: bool = True  # float: NaN and infinities refused
    codec: str = ""  # "json" or "bool": converted on the way in and out


INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
MAX_TEXT = 8 << 20  # characters of a Text column (console line, comment, configuration text)


TABLES: dict[str, dict[str, Column]] = {
    "chunks": {
        "id": Column("id", "int", True, *INT64),
        "series_id": Column("series_id", "int", False, *INT32),
        "low": Column("low", "int", False, *INT64),
        "high": Column("high", "int", False, *INT64),
        "last_iteration": Column("last_iteration", "int", True, *INT64),
        "last_value": Column("last_value", "float", True, finite=False),
        "iterations": Column("iterations", "any", False),
        "numbers": Column("numbers", "any", False),
        "nulls": Column("nulls", "any", True),
        "times": Column("times", "any", False),
        "payloads": Column("payloads", "any", True, codec="json"),
    },
    "login_failures": {
        "subject": Column("subject", "str", False, 0, 320),
        "count": Column("count", "int", False, *INT32),
        "first": Column("first", "float", False),
        "blocked_until": Column("blocked_until", "float", False),
    },
    "projects": {
        "id": Column("id", "str", False, 0, 32),
        "name": Column("name", "str", False, 0, 512),
        "system_tags": Column("system_tags", "any", False, codec="json"),
        "created": Column("created", "float", False),
        "description": Column("description", "text", True, 0, MAX_TEXT),
    },
    "queues": {
        "id": Column("id", "str", False, 0, 32),
        "name": Column("name", "str", False, 0, 256),
        "created": Column("created", "float", False),
        "user": Column("user", "str", True, 0, 256),
    },
    "series": {
        "id": Column("id", "int", True, *INT32),
        "task_id": Column("task_id", "str", False, 0, 32),
        "kind": Column("kind", "str", False, 0, 32),
        "title": Column("title", "str", False, 0, 512),
        "series": Column("series", "str", False, 0, 512),
    },
    "users": {
        "id": Column("id", "str", False, 0, 32),
        "name": Column("name", "str", False, 0, 256),
        "password_hash": Column("password_hash", "str", True, 0, 512),
        "admin": Column("admin", "bool", False, codec="bool"),
        "created": Column("created", "float", False),
        "role": Column("role", "str", True, 0, 16),
    },
    "workers": {
        "id": Column("id", "str", False, 0, 256),
        "queues": Column("queues", "any", False, codec="json"),
        "task_id": Column("task_id", "str", True, 0, 32),
        "started": Column("started", "float", False),
        "heartbeat": Column("heartbeat", "float", False),
        "host": Column("host", "str", False, 0, 256),
        "pid": Column("pid", "int", False, *INT32),
    },
    "api_keys": {
        "id": Column("id", "str", False, 0, 64),
        "secret_hash": Column("secret_hash", "str", False, 0, 512),
        "user_id": Column("user_id", "str", False, 0, 32),
        "name": Column("name", "str", False, 0, 256),
        "created": Column("created", "float", False),
        "revoked": Column("revoked", "float", True),
        "kind": Column("kind", "str", True, 0, 16),
        "last_used": Column("last_used", "float", True),
        "expires": Column("expires", "float", True),
    },
    "tasks": {
        "id": Column("id", "str", False, 0, 32),
        "name": Column("name", "str", False, 0, 512),
        "project": Column("project", "str", True, 0, 32),
        "type": Column("type", "str", False, 0, 64),
        "status": Column("status", "str", False, 0, 32),
        "status_message": Column("status_message", "text", False, 0, MAX_TEXT),
        "status_reason": Column("status_reason", "text", False, 0, MAX_TEXT),
        "created": Column("created", "float", False),
        "started": Column("started", "float", True),
        "ended": Column("ended", "float", True),
        "updated": Column("updated", "float", False),
        "parent": Column("parent", "str", True, 0, 32),
        "tags": Column("tags", "any", False, codec="json"),
        "system_tags": Column("system_tags", "any", False, codec="json"),
        "comment": Column("comment", "text", False, 0, MAX_TEXT),
        "user": Column("user", "str", False, 0, 256),
        "script": Column("script", "any", False, codec="json"),
        "requirements": Column("requirements", "any", False, codec="json"),
        "container": Column("container", "any", False, codec="json"),
        "runtime": Column("runtime", "any", False, codec="json"),
        "output_uri": Column("output_uri", "text", True, 0, MAX_TEXT),
        "queue": Column("queue", "str", True, 0, 256),
        "worker": Column("worker", "str", True, 0, 256),
        "archived": Column("archived", "bool", False, codec="bool"),
        "progress": Column("progress", "int", False, *INT32),
        "cache_key": Column("cache_key", "str", True, 0, 128),
    },
    "artifacts": {
        "task_id": Column("task_id", "str", False, 0, 32),
        "name": Column("name", "str", False, 0, 512),
        "type": Column("type", "str", False, 0, 64),
        "mode": Column("mode", "str", False, 0, 16),
        "uri": Column("uri", "text", False, 0, MAX_TEXT),
        "inline": Column("inline", "text", True, 0, MAX_TEXT),
        "hash": Column("hash", "str", False, 0, 128),
        "size": Column("size", "int", False, *INT64),
        "content_type": Column("content_type", "str", False, 0, 256),
        "preview": Column("preview", "text", False, 0, MAX_TEXT),
        "metadata": Column("metadata", "any", False, codec="json"),
        "timestamp": Column("timestamp", "float", False),
        "file_name": Column("file_name", "str", True, 0, 1024),
    },
    "configs": {
        "task_id": Column("task_id", "str", False, 0, 32),
        "name": Column("name", "str", False, 0, 256),
        "text": Column("text", "text", False, 0, MAX_TEXT),
        "type": Column("type", "str", False, 0, 64),
        "description": Column("description", "text", False, 0, MAX_TEXT),
    },
    "console": {
        "task_id": Column("task_id", "str", False, 0, 32),
        "seq": Column("seq", "int", False, *INT32),
        "text": Column("text", "text", False, 0, MAX_TEXT),
        "stream": Column("stream", "str", False, 0, 16),
        "ts": Column("ts", "float", False),
    },
    "models": {
        "id": Column("id", "str", False, 0, 32),
        "name": Column("name", "str", False, 0, 512),
        "project": Column("project", "str", True, 0, 32),
        "task_id": Column("task_id", "str", True, 0, 32),
        "framework": Column("framework", "str", False, 0, 128),
        "uri": Column("uri", "text", False, 0, MAX_TEXT),
        "hash": Column("hash", "str", False, 0, 128),
        "size": Column("size", "int", False, *INT64),
        "tags": Column("tags", "any", False, codec="json"),
        "comment": Column("comment", "text", False, 0, MAX_TEXT),
        "config_text": Column("config_text", "text", False, 0, MAX_TEXT),
        "labels": Column("labels", "any", False, codec="json"),
        "published": Column("published", "bool", False, codec="bool"),
        "created": Column("created", "float", False),
        "user": Column("user", "str", True, 0, 256),
    },
    "nodes": {
        "id": Column("id", "int", True, *INT32),
        "run_id": Column("run_id", "str", False, 0, 32),
        "name": Column("name", "str", False, 0, 512),
        "status": Column("status", "str", False, 0, 32),
        "task_id": Column("task_id", "str", True, 0, 32),
        "started": Column("started", "float", True),
        "ended": Column("ended", "float", True),
        "attempt": Column("attempt", "int", False, *INT32),
        "cache_key": Column("cache_key", "str", False, 0, 128),
        "cache_note": Column("cache_note", "text", False, 0, MAX_TEXT),
        "message": Column("message", "text", False, 0, MAX_TEXT),
        "updated": Column("updated", "float", False),
    },
    "params": {
        "task_id": Column("task_id", "str", False, 0, 32),
        "section": Column("section", "str", False, 0, 256),
        "name": Column("name", "str", False, 0, 512),
        "value": Column("value", "text", False, 0, MAX_TEXT),
        "type": Column("type", "str", False, 0, 128),
        "description": Column("description", "text", False, 0, MAX_TEXT),
    },
    "queue_entries": {
        "id": Column("id", "int", True, *INT32),
        "queue_id": Column("queue_id", "str", False, 0, 32),
        "task_id": Column("task_id", "str", False, 0, 32),
        "priority": Column("priority", "int", False, *INT32),
        "added": Column("added", "float", False),
    },
    "task_models": {
        "id": Column("id", "int", True, *INT32),
        "task_id": Column("task_id", "str", False, 0, 32),
        "model_id": Column("model_id", "str", False, 0, 32),
        "role": Column("role", "str", False, 0, 16),
        "name": Column("name", "str", False, 0, 512),
    },
}
