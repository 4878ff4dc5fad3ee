"""series' unique key holds the series id (PostgreSQL)

Revision ID: 0008
Revises: 0007
The runs table reads the metric series of its 200 newest runs (store/runlists.py). On
PostgreSQL the unique (task_id, kind, title, series) index found a task's series but not their
ids, so each found row was read from the table as well, and the planner preferred a sequential
scan of every series stored, each row compared with each of the 200 ids: 5-8 ms at 10,000 runs,
growing with the series of all runs rather than of the 200. With the id in the index (INCLUDE,
not part of the key: uniqueness is unchanged) a task's series are one index-only seek.

SQLite needs nothing: every SQLite index already holds its row's rowid, which `series.id` is.
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_KEY = "uq_series_task_id_kind_title_series"
_UNIQUE = f"ALTER TABLE series ADD CONSTRAINT {_KEY} UNIQUE (task_id, kind, title, series)"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # Written out: Alembic's create_unique_constraint cannot name an INCLUDE column. The
    # migration's one transaction means no writer ever sees the table without its key.
    op.execute(f"ALTER TABLE series DROP CONSTRAINT {_KEY}")
    op.execute(f"{_UNIQUE} INCLUDE (id)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE series DROP CONSTRAINT {_KEY}")
    op.execute(_UNIQUE)
