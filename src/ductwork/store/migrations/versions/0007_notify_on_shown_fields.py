"""notify on the fields a live view shows, not on every touch

Revision ID: 0007
Revises: 0006
Migration 0003 sent `NOTIFY ductwork_changes` from every transaction that wrote `tasks`,
and every metric, console, parameter or artifact write bumps its task's `updated` (the change
cursor, store/common.py). Under 50 clients writing metrics that is a notification per
group commit, and each one woke every listening server's live feed for a look (two queries
over the last two seconds of changes) in the middle of the burst it came from.

Now an UPDATE notifies only when it sets a field the live views show (`notify.TASK_COLUMNS`
but `updated`: status, times, worker, queue...), so a status change still reaches a feed at
once. A statement that only bumps `updated` is found by the feed's probe instead
(`notify.PostgresSource`, once a second), and `updated` itself stays exact, so no change is
ever lost, only announced up to a second later. Inserts and deletes notify as before.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# notify.TASK_COLUMNS without `updated` (a test keeps them equal); frozen here, as migrations are.
SHOWN = ("id", "name", "status", "status_message", "parent", "started", "ended", "worker", "type", "queue")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS ductwork_tasks_changed ON tasks")
    op.execute(
        "CREATE TRIGGER ductwork_tasks_changed AFTER INSERT OR DELETE ON tasks "
        "FOR EACH STATEMENT EXECUTE FUNCTION ductwork_notify_change()"
    )
    op.execute(
        f"CREATE TRIGGER ductwork_tasks_shown AFTER UPDATE OF {', '.join(SHOWN)} ON tasks "
        "FOR EACH STATEMENT EXECUTE FUNCTION ductwork_notify_change()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS ductwork_tasks_shown ON tasks")
    op.execute("DROP TRIGGER IF EXISTS ductwork_tasks_changed ON tasks")
    op.execute(
        "CREATE TRIGGER ductwork_tasks_changed AFTER INSERT OR UPDATE OR DELETE ON tasks "
        "FOR EACH STATEMENT EXECUTE FUNCTION ductwork_notify_change()"
    )
