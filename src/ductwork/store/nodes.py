"""Live node states of pipeline runs, upserted in batches by the scheduler."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy import exc

from ductwork.core.errors import NotFound, ValidationError
from ductwork.core.records import NodeState
from ductwork.core.states import NodeStatus
from ductwork.store import bounds
from ductwork.store.common import is_foreign_key_error, now, require_task, upsert
from ductwork.store.tables import nodes

FIELDS = tuple(f.name for f in dataclasses.fields(NodeState))
_STATUSES = frozenset(s.value for s in NodeStatus)
_by_run = (
    sa.select(*(nodes.c[name] for name in FIELDS))
    .where(nodes.c.run_id == sa.bindparam("run_id"))
    .order_by(nodes.c.id)
)


def put(conn: sa.Connection, states: Sequence[NodeState]) -> None:
    if not states:
        return
    stamp = now()
    rows = []
    for state in states:
        if state.status not in _STATUSES:
            raise ValidationError(f"run {state.run_id} node {state.name!r}: unknown status {state.status!r}")
        row = {name: getattr(state, name) for name in FIELDS}
        bounds.check(nodes, row, f"run {bounds.short(state.run_id)} node {bounds.short(state.name)}")
        row["updated"] = stamp
        rows.append(row)
    stmt = upsert(conn, nodes, ("run_id", "name"), (*FIELDS, "updated"))
    try:
        conn.execute(stmt, rows)
    except exc.IntegrityError as error:
        if is_foreign_key_error(error):
            runs = sorted({state.run_id for state in states})
            raise NotFound(f"run (controller task) {', '.join(runs)} not found") from error
        raise


def get(conn: sa.Connection, run_id: str) -> list[NodeState]:
    result = [NodeState(*row) for row in conn.execute(_by_run, {"run_id": run_id})]
    if not result:
        require_task(conn, run_id)
    return result
