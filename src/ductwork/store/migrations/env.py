"""Alembic environment: migrations run on the connection `ductwork.store.migrate` hands in.

Without one (a developer running `alembic -x url=... revision --autogenerate` with a
config whose script_location points here), it connects to the `url` given with `-x`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from ductwork.store.tables import metadata


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("pass the database with: alembic -x url=sqlite:///path.db ...")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()
