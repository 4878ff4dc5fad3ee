"""A task or run named by a unique prefix of its id, as `git`, `docker` and `gh` accept them.

    resolve(backend, "3fa9")               -> "3fa9c1...": the one task whose id starts so
    resolve(backend, "3fa9", runs=True)     only pipeline runs (controller tasks) count

No match is a `NotFound`, several an `AmbiguousId` that lists them; both name what was asked
for. One query either way (`TaskQuery.id_prefix`, at most a few rows).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ductwork.core.display import printable, status_word
from ductwork.core.errors import NotFound, ValidationError
from ductwork.core.queries import TaskQuery

if TYPE_CHECKING:
    from ductwork.client.contract import Backend
    from ductwork.core.records import TaskRecord

SHOWN = 10  # candidates listed in an ambiguous prefix's error
MAX_ID = 256


class AmbiguousId(ValidationError):
    """A prefix that starts the ids of several tasks; the message lists them."""

    def __init__(self, message: str, candidates: list[str]) -> None:
        super().__init__(message)
        self.candidates = candidates


def resolve(backend: Backend, text: str, *, runs: bool = False) -> str:
    """The full id of the one task (with `runs`, pipeline run) whose id starts with `text`."""
    what = "pipeline run" if runs else "task"
    prefix = text.strip()
    if not prefix or len(prefix) > MAX_ID:
        raise ValidationError(f"{printable(text)!r} is not a {what} id or a prefix of one")
    query = TaskQuery(id_prefix=prefix, archived=None, limit=SHOWN + 1, order_by="-created")
    if runs:
        from ductwork.core.runformat import CONTROLLER_TYPE, PIPELINE_TAG

        query.type, query.system_tags = [CONTROLLER_TYPE], [PIPELINE_TAG]
    # (checked here too: a server older than `id_prefix` ignores it and answers any tasks)
    found = [task for task in backend.query_tasks(query) if task.id.startswith(prefix)]
    exact = [task for task in found if task.id == prefix]
    if exact or len(found) == 1:
        return (exact or found)[0].id
    if not found:
        hint = (
            " (`ductwork pipelines list` shows the runs)" if runs else " (`ductwork tasks list` shows them)"
        )
        raise NotFound(f"no {what} id starts with {printable(prefix)!r}{hint}")
    lines = [_candidate(task) for task in found[:SHOWN]]
    more = " (and more)" if len(found) > SHOWN else ""
    raise AmbiguousId(
        f"{printable(prefix)!r} starts the ids of {len(found[:SHOWN])}{more} {what}s; "
        "give more of the id:\n" + "\n".join(lines),
        [task.id for task in found],
    )


def _candidate(task: TaskRecord) -> str:
    return f"  {task.id}  {printable(task.name)}  ({status_word(task.status)})"


def complete(text: str, *, runs: bool = False) -> list[str]:
    """Ids that start with `text`, newest first, for shell completion (nothing on any error:
    a completion must never print a traceback into the user's command line)."""
    from ductwork import client
    from ductwork.core.errors import DuctworkError

    query = TaskQuery(id_prefix=text, archived=False, limit=50, order_by="-created")
    if runs:
        from ductwork.core.runformat import CONTROLLER_TYPE, PIPELINE_TAG

        query.type, query.system_tags = [CONTROLLER_TYPE], [PIPELINE_TAG]
    try:
        return [task.id for task in client.backend().query_tasks(query) if task.id.startswith(text)]
    except (DuctworkError, OSError):
        return []
