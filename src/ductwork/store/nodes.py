"""Live node states of pipeline runs, upserted in batches by the scheduler."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from ductwork.core.errors import NotFound, ValidationError
from ductwork.core.records import NodeState
from ductwork.core.states import NodeStatus
from ductwork.store import bounds
from ductwork.store.common import now, require_task
from ductwork.store.sql import Columns, Conn, Fields, IntegrityError

FIELDS = tuple(f.name for f in dataclasses.fields(NodeState))
_STATUSES = frozenset(s.value for s in NodeStatus)
_UPSERT = Columns("nodes", (*FIELDS, "updated")).upsert(("run_id", "name"))
_BY_RUN = f"SELECT {Columns('nodes', FIELDS).sql} FROM nodes WHERE run_id = :run_id ORDER BY id"


def put(conn: Conn, states: Sequence[NodeState]) -> None:
    if not states:
        return
    stamp = now()
    rows = [_row(state, stamp) for state in states]
    try:
        conn.many(_UPSERT, rows)
    except IntegrityError as error:
        if error.foreign_key:
            runs = sorted({state.run_id for state in states})
            raise NotFound(f"run (controller task) {', '.join(runs)} not found") from error
        raise


def _row(state: NodeState, stamp: float) -> dict[str, Any]:
    """The node's columns, checked: a ValidationError names the run, node and field."""
    if state.status not in _STATUSES:
        raise ValidationError(f"run {state.run_id} node {state.name!r}: unknown status {state.status!r}")
    values = _FIELDS_OF(state)
    row = bounds.encoded(
        "nodes", values, lambda: f"run {bounds.short(state.run_id)} node {bounds.short(state.name)}"
    )
    row["updated"] = stamp
    return row


_FIELDS_OF = Fields(NodeState, FIELDS)


def get(conn: Conn, run_id: str) -> list[NodeState]:
    result = [NodeState(*row) for row in conn.rows(_BY_RUN, {"run_id": run_id})]
    if not result:
        require_task(conn, run_id)
    return result
