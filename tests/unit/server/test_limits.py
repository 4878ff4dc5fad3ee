"""services/limits.py: which parameters of a route are integers is found once a route, and a
route never gets another route's answer (by id(), a collected route's id is a new route's)."""

from __future__ import annotations

import gc

from fastapi.routing import APIRoute

from ductwork.server.services import limits


async def _counted(run_id: str, limit: int, page: int | None = None, name: str = "") -> None:
    """An endpoint with integer and string parameters."""


async def _named(run_id: str, limit: str = "") -> None:
    """The same path and names, none of them an integer."""


class _Route:
    """What `limits` reads of a route: its dependant. Plain, so it is freed the moment it is
    dropped and the next one made is laid in the same memory (the same id())."""

    def __init__(self, dependant: object) -> None:
        self.dependant = dependant


def test_a_routes_integer_parameters_are_found_from_its_annotations() -> None:
    route = APIRoute("/runs/{run_id}", _counted)
    assert limits._integer_params(route) == {"limit", "page"}
    assert limits._integer_params(route) is limits._integer_params(route)  # found once
    assert limits._integer_params(APIRoute("/runs/{run_id}", _named)) == frozenset()
    assert limits._integer_params(None) == frozenset()


def test_a_new_route_with_a_collected_routes_id_gets_its_own_answer() -> None:
    counted = APIRoute("/runs/{run_id}", _counted).dependant
    named = APIRoute("/runs/{run_id}", _named).dependant
    reused = 0
    gc.collect()  # before, not between: a collection would take the freed memory first
    for _ in range(100):
        first = _Route(counted)
        assert limits._integer_params(first) == {"limit", "page"}
        first_id = id(first)
        del first  # freed at once (no cycle)
        second = _Route(named)
        reused += id(second) == first_id
        assert limits._integer_params(second) == frozenset()  # `limit` is a string here
        del second
    assert reused, "no id was reused: the case this test is about never happened"
