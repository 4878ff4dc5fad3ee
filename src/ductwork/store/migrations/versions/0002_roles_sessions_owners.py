"""roles, sessions, owners, login failures

Revision ID: 0002
Revises: 0001
Users get a role (admin, user, readonly); API keys say whether they are a login session
and when they were last used and expire; queues and models record their owner; failed
logins are counted per user name and per address, so every server process shares them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("role", sa.String(length=16), server_default="user", nullable=False))
    op.execute("UPDATE users SET role = 'admin' WHERE admin")
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=16), server_default="key", nullable=False))
        batch.add_column(sa.Column("last_used", sa.Float(precision=53), nullable=True))
        batch.add_column(sa.Column("expires", sa.Float(precision=53), nullable=True))
    op.execute("UPDATE api_keys SET kind = 'session' WHERE name = 'web session'")
    with op.batch_alter_table("queues") as batch:
        batch.add_column(sa.Column("user", sa.String(length=256), server_default="", nullable=False))
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("user", sa.String(length=256), server_default="", nullable=False))
    op.create_table(
        "login_failures",
        sa.Column("subject", sa.String(length=320), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first", sa.Float(precision=53), nullable=False),
        sa.Column("blocked_until", sa.Float(precision=53), nullable=False),
        sa.PrimaryKeyConstraint("subject", name=op.f("pk_login_failures")),
    )


def downgrade() -> None:
    op.drop_table("login_failures")
    for table in ("models", "queues"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("user")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("expires")
        batch.drop_column("last_used")
        batch.drop_column("kind")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("role")
