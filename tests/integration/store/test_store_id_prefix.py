"""TaskQuery.id_prefix (issue 16: the CLI's unique id prefixes), on SQLite and PostgreSQL: ids
that start with the prefix and no others; LIKE's own characters (`%`, `_`) and the escape
character match only themselves; a NUL or an over-long prefix is refused, not a driver error."""

from __future__ import annotations

import pytest

from ductwork.core.errors import ValidationError
from ductwork.core.queries import TaskQuery
from ductwork.core.records import TaskRecord
from ductwork.store import Store

IDS = [
    "abc1" + "0" * 28,
    "abc2" + "0" * 28,
    "abd1" + "0" * 28,
    "a_c1" + "0" * 28,
    "a%c1" + "0" * 28,
    "a/c1" + "0" * 28,
]


def _ids(store: Store, prefix: str, **more: object) -> list[str]:
    return sorted(t.id for t in store.query_tasks(TaskQuery(id_prefix=prefix, archived=None, **more)))  # type: ignore[arg-type]


def test_id_prefix_matches_the_start_of_ids_only(store: Store) -> None:
    for task_id in IDS:
        store.create_task(TaskRecord(id=task_id, name=f"t {task_id[:4]}"))
    assert _ids(store, "abc") == sorted(IDS[:2])
    assert _ids(store, "ab") == sorted(IDS[:3])
    assert _ids(store, IDS[2]) == [IDS[2]]  # a whole id
    assert _ids(store, "bc") == []  # the middle of an id is no prefix
    assert _ids(store, "a_c") == [IDS[3]]  # `_` is itself, not any one character
    assert _ids(store, "a%") == [IDS[4]]  # `%` is itself, not anything
    assert _ids(store, "a/") == [IDS[5]]  # the escape character is itself too
    assert _ids(store, "") == sorted(IDS)
    assert _ids(store, "ab", limit=1) and len(_ids(store, "ab", limit=1)) == 1
    assert store.count_tasks(TaskQuery(id_prefix="ab", archived=None)) == 3


@pytest.mark.parametrize("prefix", ["a\x00b", "a" * 5000])
def test_a_hostile_prefix_is_refused(store: Store, prefix: str) -> None:
    with pytest.raises(ValidationError, match="id_prefix"):
        store.query_tasks(TaskQuery(id_prefix=prefix))
