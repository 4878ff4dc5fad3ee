"""The tables, as SQLAlchemy Core objects. The migration chain creates exactly these.

Times are float seconds since the epoch (what `time.time()` gives), ids are 32 hex digits.
JSON columns are JSONB on PostgreSQL (indexable, comparable) and JSON text on SQLite.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class _Json(sa.types.TypeDecorator[Any]):
    """JSON, as JSONB on PostgreSQL: `sa.JSON().with_variant(JSONB(), "postgresql")` without
    importing SQLAlchemy's PostgreSQL dialect (and its drivers, ~35 ms) on SQLite."""

    impl = sa.JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB(none_as_null=True))
        return dialect.type_descriptor(sa.JSON(none_as_null=True))


# `none_as_null`: a Python None is stored as SQL NULL, not as the JSON text 'null'.
Json = _Json(none_as_null=True)
Id = sa.String(32)
Time = sa.Float(precision=53)


def _task_fk(name: str = "task_id", *, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, Id, sa.ForeignKey("tasks.id", ondelete="CASCADE"), nullable=nullable)


projects = sa.Table(
    "projects",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("name", sa.String(512), nullable=False, unique=True),
    sa.Column("system_tags", Json, nullable=False),
    sa.Column("created", Time, nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
)

tasks = sa.Table(
    "tasks",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("name", sa.String(512), nullable=False),
    sa.Column("project", Id, sa.ForeignKey("projects.id", ondelete="SET NULL"), nullable=True),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("status_message", sa.Text, nullable=False),
    sa.Column("status_reason", sa.Text, nullable=False),
    sa.Column("created", Time, nullable=False),
    sa.Column("started", Time, nullable=True),
    sa.Column("ended", Time, nullable=True),
    sa.Column("updated", Time, nullable=False),
    # No foreign key: a child keeps pointing at a deleted parent's id, as it would in a log.
    sa.Column("parent", Id, nullable=True),
    sa.Column("tags", Json, nullable=False),
    sa.Column("system_tags", Json, nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("user", sa.String(256), nullable=False),
    sa.Column("script", Json, nullable=False),
    sa.Column("requirements", Json, nullable=False),
    sa.Column("container", Json, nullable=False),
    sa.Column("runtime", Json, nullable=False),
    sa.Column("output_uri", sa.Text, nullable=True),
    sa.Column("queue", sa.String(256), nullable=True),
    sa.Column("worker", sa.String(256), nullable=True),
    sa.Column("archived", sa.Boolean, nullable=False),
    sa.Column("progress", sa.Integer, nullable=False),
    # A copy of runtime["cache_key"], kept in step by every write of `runtime`, so the
    # cache lookup is one indexed equality instead of a JSON scan.
    sa.Column("cache_key", sa.String(128), nullable=True),
    sa.Index(None, "project", "name"),
    sa.Index(None, "project", "created", "id"),  # a pipeline's newest runs (migration 0006)
    sa.Index(None, "status"),
    sa.Index(None, "type"),
    sa.Index(None, "parent"),
    sa.Index(None, "created"),
    sa.Index(None, "updated"),
    sa.Index(None, "cache_key"),
)

params = sa.Table(
    "params",
    metadata,
    _task_fk(),
    sa.Column("section", sa.String(256), nullable=False),
    sa.Column("name", sa.String(512), nullable=False),
    sa.Column("value", sa.Text, nullable=False),  # the JSON text of the Python value
    sa.Column("type", sa.String(128), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.PrimaryKeyConstraint("task_id", "section", "name"),
)

configs = sa.Table(
    "configs",
    metadata,
    _task_fk(),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.PrimaryKeyConstraint("task_id", "name"),
)

artifacts = sa.Table(
    "artifacts",
    metadata,
    _task_fk(),
    sa.Column("name", sa.String(512), nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("mode", sa.String(16), nullable=False),
    sa.Column("uri", sa.Text, nullable=False),
    sa.Column("inline", sa.Text, nullable=True),
    sa.Column("hash", sa.String(128), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("content_type", sa.String(256), nullable=False),
    sa.Column("preview", sa.Text, nullable=False),
    sa.Column("metadata", Json, nullable=False),
    sa.Column("timestamp", Time, nullable=False),
    sa.Column("file_name", sa.String(1024), nullable=False, server_default=""),
    # The primary key (task_id, name) is also the "artifacts by task" index.
    sa.PrimaryKeyConstraint("task_id", "name"),
)

models = sa.Table(
    "models",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("name", sa.String(512), nullable=False),
    sa.Column("project", Id, sa.ForeignKey("projects.id", ondelete="SET NULL"), nullable=True),
    # A model outlives the task that made it (it may be published and used elsewhere).
    sa.Column("task_id", Id, sa.ForeignKey("tasks.id", ondelete="SET NULL"), nullable=True),
    sa.Column("framework", sa.String(128), nullable=False),
    sa.Column("uri", sa.Text, nullable=False),
    sa.Column("hash", sa.String(128), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("tags", Json, nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("config_text", sa.Text, nullable=False),
    sa.Column("labels", Json, nullable=False),
    sa.Column("published", sa.Boolean, nullable=False),
    sa.Column("created", Time, nullable=False),
    sa.Column("user", sa.String(256), nullable=False, server_default=""),  # the owner
    sa.Index(None, "project", "name"),
    sa.Index(None, "name"),
    sa.Index(None, "task_id"),
)

task_models = sa.Table(
    "task_models",
    metadata,
    # The autoincrement id is the attach order.
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    _task_fk(),
    sa.Column("model_id", Id, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("name", sa.String(512), nullable=False),
    sa.UniqueConstraint("task_id", "role", "name"),
    sa.Index(None, "model_id"),
)

# A metric series (task, kind, title, series) gets a small integer id, which its chunks hold.
# No foreign key, as on chunks: delete_task and reset remove a task's series themselves.
# The unique index holds the id too, so a task's series and their ids are one index-only seek
# (the runs table's last metrics, store/runlists.py); SQLite's indexes all hold the rowid.
series = sa.Table(
    "series",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("task_id", Id, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("title", sa.String(512), nullable=False),
    sa.Column("series", sa.String(512), nullable=False),
    sa.UniqueConstraint("task_id", "kind", "title", "series", postgresql_include=["id"]),
)

# The points of one series that one write brought, packed (store/chunks.py): iterations as
# int64, values and times as float64 arrays, one row per series per batch instead of one per
# point, which is what lets SQLite take millions of scalars a second. `low` and `high` (its
# lowest and highest iteration) let a read skip chunks or take them in order of iteration;
# `last_iteration`/`last_value` (the chunk's last point with a value, among those at its highest
# iteration) give a series' last value without unpacking, one seek down the index.
chunks = sa.Table(
    "chunks",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    # No foreign key, on purpose: add_events already proves (and locks) every task of a batch
    # in the same transaction.
    sa.Column("series_id", sa.Integer, nullable=False),
    sa.Column("low", sa.BigInteger, nullable=False),
    sa.Column("high", sa.BigInteger, nullable=False),
    sa.Column("last_iteration", sa.BigInteger, nullable=True),
    sa.Column("last_value", sa.Float(precision=53), nullable=True),
    sa.Column("iterations", sa.LargeBinary, nullable=False),
    sa.Column("numbers", sa.LargeBinary, nullable=False),
    sa.Column("nulls", sa.LargeBinary, nullable=True),
    sa.Column("times", sa.LargeBinary, nullable=False),
    sa.Column("payloads", Json, nullable=True),
    sa.Index(None, "series_id", "last_iteration"),
)

console = sa.Table(
    "console",
    metadata,
    _task_fk(),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("stream", sa.String(16), nullable=False),
    sa.Column("ts", Time, nullable=False),
    sa.PrimaryKeyConstraint("task_id", "seq"),
)

queues = sa.Table(
    "queues",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("name", sa.String(256), nullable=False, unique=True),
    sa.Column("created", Time, nullable=False),
    sa.Column("user", sa.String(256), nullable=False, server_default=""),  # the owner
)

queue_entries = sa.Table(
    "queue_entries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("queue_id", Id, sa.ForeignKey("queues.id", ondelete="CASCADE"), nullable=False),
    # Unique: a task waits in at most one queue.
    sa.Column("task_id", Id, sa.ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False, unique=True),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("added", Time, nullable=False),
    sa.Index(None, "queue_id", "priority", "added"),
)

workers = sa.Table(
    "workers",
    metadata,
    sa.Column("id", sa.String(256), primary_key=True),
    sa.Column("queues", Json, nullable=False),
    sa.Column("task_id", Id, nullable=True),
    sa.Column("started", Time, nullable=False),
    sa.Column("heartbeat", Time, nullable=False),
    sa.Column("host", sa.String(256), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
)

nodes = sa.Table(
    "nodes",
    metadata,
    # The autoincrement id keeps the order in which the scheduler first reported each node.
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", Id, sa.ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(512), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("task_id", Id, nullable=True),
    sa.Column("started", Time, nullable=True),
    sa.Column("ended", Time, nullable=True),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("cache_key", sa.String(128), nullable=False),
    sa.Column("cache_note", sa.Text, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("updated", Time, nullable=False),
    sa.UniqueConstraint("run_id", "name"),
    sa.Index(None, "updated"),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", Id, primary_key=True),
    sa.Column("name", sa.String(256), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(512), nullable=True),
    sa.Column("admin", sa.Boolean, nullable=False),  # kept equal to role == "admin"
    sa.Column("created", Time, nullable=False),
    sa.Column("role", sa.String(16), nullable=False, server_default="user"),  # admin|user|readonly|agent
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("secret_hash", sa.String(512), nullable=False),
    sa.Column("user_id", Id, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("name", sa.String(256), nullable=False),
    sa.Column("created", Time, nullable=False),
    sa.Column("revoked", Time, nullable=True),
    sa.Column("kind", sa.String(16), nullable=False, server_default="key"),  # key | session
    sa.Column("last_used", Time, nullable=True),
    sa.Column("expires", Time, nullable=True),
    sa.Index(None, "user_id"),
)

# Failed logins per subject ("user:<name>" or "addr:<ip>"), shared by every server process.
login_failures = sa.Table(
    "login_failures",
    metadata,
    sa.Column("subject", sa.String(320), primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("first", Time, nullable=False),
    sa.Column("blocked_until", Time, nullable=False),
)
