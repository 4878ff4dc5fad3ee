"""initial schema

Revision ID: 0001
Revises:
The tables of `ductwork.store.tables` as first released.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# JSONB on PostgreSQL, JSON text on SQLite; None is stored as SQL NULL.
JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    # One function a table (with its indexes), in the order foreign keys need.
    _projects()
    _queues()
    _users()
    _workers()
    _api_keys()
    _tasks()
    _artifacts()
    _configs()
    _console()
    _events()
    _models()
    _nodes()
    _params()
    _queue_entries()
    _task_models()


def _projects() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("system_tags", JSON, nullable=False),
        sa.Column("created", sa.Float(precision=53), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
        sa.UniqueConstraint("name", name=op.f("uq_projects_name")),
    )


def _queues() -> None:
    op.create_table(
        "queues",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("created", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queues")),
        sa.UniqueConstraint("name", name=op.f("uq_queues_name")),
    )


def _users() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("password_hash", sa.String(length=512), nullable=True),
        sa.Column("admin", sa.Boolean(), nullable=False),
        sa.Column("created", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("name", name=op.f("uq_users_name")),
    )


def _workers() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=256), nullable=False),
        sa.Column("queues", JSON, nullable=False),
        sa.Column("task_id", sa.String(length=32), nullable=True),
        sa.Column("started", sa.Float(precision=53), nullable=False),
        sa.Column("heartbeat", sa.Float(precision=53), nullable=False),
        sa.Column("host", sa.String(length=256), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )


def _api_keys() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=512), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("created", sa.Float(precision=53), nullable=False),
        sa.Column("revoked", sa.Float(precision=53), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_keys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
    )
    op.create_index(op.f("ix_api_keys_user_id"), "api_keys", ["user_id"], unique=False)


def _tasks() -> None:
    op.create_table(
        "tasks",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("project", sa.String(length=32), nullable=True),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("status_message", sa.Text(), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=False),
        sa.Column("created", sa.Float(precision=53), nullable=False),
        sa.Column("started", sa.Float(precision=53), nullable=True),
        sa.Column("ended", sa.Float(precision=53), nullable=True),
        sa.Column("updated", sa.Float(precision=53), nullable=False),
        sa.Column("parent", sa.String(length=32), nullable=True),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("system_tags", JSON, nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("user", sa.String(length=256), nullable=False),
        sa.Column("script", JSON, nullable=False),
        sa.Column("requirements", JSON, nullable=False),
        sa.Column("container", JSON, nullable=False),
        sa.Column("runtime", JSON, nullable=False),
        sa.Column("output_uri", sa.Text(), nullable=True),
        sa.Column("queue", sa.String(length=256), nullable=True),
        sa.Column("worker", sa.String(length=256), nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("cache_key", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(
            ["project"], ["projects.id"], name=op.f("fk_tasks_project_projects"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
    )
    op.create_index(op.f("ix_tasks_cache_key"), "tasks", ["cache_key"], unique=False)
    op.create_index(op.f("ix_tasks_created"), "tasks", ["created"], unique=False)
    op.create_index(op.f("ix_tasks_parent"), "tasks", ["parent"], unique=False)
    op.create_index(op.f("ix_tasks_project_name"), "tasks", ["project", "name"], unique=False)
    op.create_index(op.f("ix_tasks_status"), "tasks", ["status"], unique=False)
    op.create_index(op.f("ix_tasks_type"), "tasks", ["type"], unique=False)
    op.create_index(op.f("ix_tasks_updated"), "tasks", ["updated"], unique=False)


def _artifacts() -> None:
    op.create_table(
        "artifacts",
        sa.Column("task_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("inline", sa.Text(), nullable=True),
        sa.Column("hash", sa.String(length=128), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(length=256), nullable=False),
        sa.Column("preview", sa.Text(), nullable=False),
        sa.Column("metadata", JSON, nullable=False),
        sa.Column("timestamp", sa.Float(precision=53), nullable=False),
        sa.Column("file_name", sa.String(length=1024), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_artifacts_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("task_id", "name", name=op.f("pk_artifacts")),
    )


def _configs() -> None:
    op.create_table(
        "configs",
        sa.Column("task_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_configs_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("task_id", "name", name=op.f("pk_configs")),
    )


def _console() -> None:
    op.create_table(
        "console",
        sa.Column("task_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("stream", sa.String(length=16), nullable=False),
        sa.Column("ts", sa.Float(precision=53), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_console_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("task_id", "seq", name=op.f("pk_console")),
    )


def _events() -> None:
    op.create_table(
        "events",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("task_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=512), nullable=False),
        sa.Column("series", sa.String(length=512), nullable=False),
        sa.Column("iteration", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Float(precision=53), nullable=True),
        sa.Column("payload", JSON, nullable=True),
        sa.Column("ts", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index(
        op.f("ix_events_task_id_kind_title_series_iteration"),
        "events",
        ["task_id", "kind", "title", "series", "iteration"],
        unique=False,
    )


def _models() -> None:
    op.create_table(
        "models",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("project", sa.String(length=32), nullable=True),
        sa.Column("task_id", sa.String(length=32), nullable=True),
        sa.Column("framework", sa.String(length=128), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("hash", sa.String(length=128), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("config_text", sa.Text(), nullable=False),
        sa.Column("labels", JSON, nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        sa.Column("created", sa.Float(precision=53), nullable=False),
        sa.ForeignKeyConstraint(
            ["project"], ["projects.id"], name=op.f("fk_models_project_projects"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_models_task_id_tasks"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_models")),
    )
    op.create_index(op.f("ix_models_name"), "models", ["name"], unique=False)
    op.create_index(op.f("ix_models_project_name"), "models", ["project", "name"], unique=False)
    op.create_index(op.f("ix_models_task_id"), "models", ["task_id"], unique=False)


def _nodes() -> None:
    op.create_table(
        "nodes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("task_id", sa.String(length=32), nullable=True),
        sa.Column("started", sa.Float(precision=53), nullable=True),
        sa.Column("ended", sa.Float(precision=53), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("cache_key", sa.String(length=128), nullable=False),
        sa.Column("cache_note", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("updated", sa.Float(precision=53), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["tasks.id"], name=op.f("fk_nodes_run_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nodes")),
        sa.UniqueConstraint("run_id", "name", name=op.f("uq_nodes_run_id_name")),
    )
    op.create_index(op.f("ix_nodes_updated"), "nodes", ["updated"], unique=False)


def _params() -> None:
    op.create_table(
        "params",
        sa.Column("task_id", sa.String(length=32), nullable=False),
        sa.Column("section", sa.String(length=256), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("type", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_params_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("task_id", "section", "name", name=op.f("pk_params")),
    )


def _queue_entries() -> None:
    op.create_table(
        "queue_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("queue_id", sa.String(length=32), nullable=False),
        sa.Column("task_id", sa.String(length=32), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("added", sa.Float(precision=53), nullable=False),
        sa.ForeignKeyConstraint(
            ["queue_id"], ["queues.id"], name=op.f("fk_queue_entries_queue_id_queues"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_queue_entries_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_entries")),
        sa.UniqueConstraint("task_id", name=op.f("uq_queue_entries_task_id")),
    )
    op.create_index(
        op.f("ix_queue_entries_queue_id_priority_added"),
        "queue_entries",
        ["queue_id", "priority", "added"],
        unique=False,
    )


def _task_models() -> None:
    op.create_table(
        "task_models",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_id", sa.String(length=32), nullable=False),
        sa.Column("model_id", sa.String(length=32), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_task_models_model_id_models"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_task_models_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_models")),
        sa.UniqueConstraint("task_id", "role", "name", name=op.f("uq_task_models_task_id_role_name")),
    )
    op.create_index(op.f("ix_task_models_model_id"), "task_models", ["model_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_task_models_model_id"), table_name="task_models")

    op.drop_table("task_models")
    op.drop_index(op.f("ix_queue_entries_queue_id_priority_added"), table_name="queue_entries")

    op.drop_table("queue_entries")
    op.drop_table("params")
    op.drop_index(op.f("ix_nodes_updated"), table_name="nodes")

    op.drop_table("nodes")
    op.drop_index(op.f("ix_models_task_id"), table_name="models")
    op.drop_index(op.f("ix_models_project_name"), table_name="models")
    op.drop_index(op.f("ix_models_name"), table_name="models")

    op.drop_table("models")
    op.drop_index(op.f("ix_events_task_id_kind_title_series_iteration"), table_name="events")

    op.drop_table("events")
    op.drop_table("console")
    op.drop_table("configs")
    op.drop_table("artifacts")
    op.drop_index(op.f("ix_tasks_updated"), table_name="tasks")
    op.drop_index(op.f("ix_tasks_type"), table_name="tasks")
    op.drop_index(op.f("ix_tasks_status"), table_name="tasks")
    op.drop_index(op.f("ix_tasks_project_name"), table_name="tasks")
    op.drop_index(op.f("ix_tasks_parent"), table_name="tasks")
    op.drop_index(op.f("ix_tasks_created"), table_name="tasks")
    op.drop_index(op.f("ix_tasks_cache_key"), table_name="tasks")

    op.drop_table("tasks")
    op.drop_index(op.f("ix_api_keys_user_id"), table_name="api_keys")

    op.drop_table("api_keys")
    op.drop_table("workers")
    op.drop_table("users")
    op.drop_table("queues")
    op.drop_table("projects")
