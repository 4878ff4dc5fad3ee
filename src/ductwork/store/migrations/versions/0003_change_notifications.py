"""change notifications on PostgreSQL

Revision ID: 0003
Revises: 0002
Every transaction that writes `tasks` or `nodes` sends `NOTIFY ductwork_changes` (payload:
`schema.table`, as channels are shared by the whole database) from statement triggers, so a
server's live feed hears any writer at once (another server, an agent or a controller on the
store) without polling (store/notify.py). One notification per statement at most, and
PostgreSQL folds equal ones of a transaction into one.
SQLite has nothing to add: a watcher reads `PRAGMA data_version` instead.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ("tasks", "nodes")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE OR REPLACE FUNCTION ductwork_notify_change() RETURNS trigger AS $$
        BEGIN
            PERFORM pg_notify('ductwork_changes', TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME);
            RETURN NULL;
        END
        $$ LANGUAGE plpgsql
        """
    )
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER ductwork_{table}_changed AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION ductwork_notify_change()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS ductwork_{table}_changed ON {table}")
    op.execute("DROP FUNCTION IF EXISTS ductwork_notify_change()")
