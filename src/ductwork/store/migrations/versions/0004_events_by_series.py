"""events by series

Revision ID: 0004
Revises: 0003
A metric series (task, kind, title, series) becomes a row of its own with a small integer id,
and each event row holds that id instead of the four strings: a point is a short row under a
short index (series_id, iteration), which doubles the rate SQLite takes scalars at. Existing
events keep their ids, values and order.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_OLD_INDEX = "ix_events_task_id_kind_title_series_iteration"
_NEW_INDEX = "ix_events_series_id_iteration"
_NAMES = ("task_id", "kind", "title", "series")


def upgrade() -> None:
    op.create_table(
        "series",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=512), nullable=False),
        sa.Column("series", sa.String(length=512), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_series")),
        sa.UniqueConstraint(*_NAMES, name=op.f("uq_series_task_id_kind_title_series")),
    )
    op.execute(
        "INSERT INTO series (task_id, kind, title, series) "
        "SELECT DISTINCT task_id, kind, title, series FROM events ORDER BY task_id, kind, title, series"
    )
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("series_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE events SET series_id = (SELECT series.id FROM series WHERE series.task_id = events.task_id "
        "AND series.kind = events.kind AND series.title = events.title AND series.series = events.series)"
    )
    with op.batch_alter_table("events") as batch:
        batch.drop_index(op.f(_OLD_INDEX))
        batch.alter_column("series_id", existing_type=sa.Integer(), nullable=False)
        for name in _NAMES:
            batch.drop_column(name)
        batch.create_index(op.f(_NEW_INDEX), ["series_id", "iteration"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("task_id", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("kind", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("title", sa.String(length=512), nullable=True))
        batch.add_column(sa.Column("series", sa.String(length=512), nullable=True))
    for name in _NAMES:
        op.execute(
            f"UPDATE events SET {name} = (SELECT s.{name} FROM series s WHERE s.id = events.series_id)"
        )
    with op.batch_alter_table("events") as batch:
        batch.drop_index(op.f(_NEW_INDEX))
        for name, length in zip(_NAMES, (32, 32, 512, 512), strict=True):
            batch.alter_column(name, existing_type=sa.String(length=length), nullable=False)
        batch.drop_column("series_id")
        batch.create_index(op.f(_OLD_INDEX), [*_NAMES, "iteration"], unique=False)
    op.drop_table("series")
