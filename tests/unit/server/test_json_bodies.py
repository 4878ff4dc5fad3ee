"""services/jsontypes.py: a JSON body is validated once, strictly. A body parameter typed
`Checked[T]` gets the strict pass's value instead of FastAPI validating the same data again,
and every refusal of the strict pass stands (the wrong JSON type named, before any endpoint)."""

from __future__ import annotations

import contextvars
import warnings
from typing import Any

import pytest
from fastapi import Depends, FastAPI, Form
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, model_validator

from ductwork.server.api import errors
from ductwork.server.services import jsontypes, limits
from ductwork.server.services.jsontypes import Checked

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's notice about httpx
    from fastapi.testclient import TestClient

VALIDATED: list[int] = []  # one entry each time a Point is validated, by either pass


class Point(BaseModel):
    x: int
    y: float = 0.0
    tags: list[str] = []
    extra: Any = None

    @model_validator(mode="after")
    def _counted(self) -> Point:
        VALIDATED.append(self.x)
        return self


def _client() -> TestClient:
    app = FastAPI(dependencies=[Depends(limits.checked_input)])
    errors.install(app)  # the server's 422 bodies

    @app.post("/once")
    async def once(point: Checked[Point]) -> dict[str, Any]:
        return point.model_dump()

    @app.post("/twice")
    async def twice(point: Point) -> dict[str, Any]:  # not Checked: both passes, as before
        return point.model_dump()

    return TestClient(app)


@pytest.fixture(autouse=True)
def _counts() -> None:
    VALIDATED.clear()


def test_a_checked_body_is_validated_once_and_the_endpoint_gets_that_value() -> None:
    with _client() as client:
        body = {"x": 3, "y": 1.5, "tags": ["a"], "extra": {"n": [1, 2.5, "3", None, True]}}
        answer = client.post("/once", json=body)
        assert answer.status_code == 200 and answer.json() == body
        assert VALIDATED == [3]
        assert client.post("/twice", json=body).json() == body and VALIDATED == [3, 3, 3]
        # Each request its own value: the next body is validated (once) again.
        assert client.post("/once", json={"x": 4}).json()["x"] == 4 and VALIDATED[-1:] == [4]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"x": "3"}, "x"),  # a string where an int is expected
        ({"x": True}, "x"),  # a bool is not an int in JSON
        ({"x": 3.0}, "x"),  # nor is a float
        ({"x": 3, "tags": [1]}, "tags"),  # an int where a string is expected
        ({"x": 3, "tags": "a"}, "tags"),  # a string is not a list
        ([{"x": 3}], "body: Input should be an object"),  # a list is not an object
    ],
)
def test_a_value_of_another_json_type_is_still_refused_naming_the_field(body: Any, field: str) -> None:
    with _client() as client:
        answer = client.post("/once", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "ValidationError" and field in answer.json()["message"]
    assert VALIDATED == []  # refused by the strict pass, before any endpoint


def test_nul_characters_are_refused_before_either_pass() -> None:
    # (Integers beyond 64 bits are the store's to refuse: tests/security/test_bounds.py.)
    with _client() as client:
        assert client.post("/once", json={"x": 1, "tags": ["a\x00b"]}).status_code == 422
        assert client.post("/once", json={"x": 1, "extra": {"k\x00": 1}}).status_code == 422
    assert VALIDATED == []


def test_an_integer_too_large_for_a_float_is_refused_as_by_the_store() -> None:
    # Strict JSON validation would make 2**1100 an infinity; FastAPI's pass still runs on such a
    # body and refuses it (a float that fits is one validation, as any body).
    with _client() as client:
        answer = client.post("/once", json={"x": 1, "y": 2**1100})
        assert answer.status_code == 422 and "y: Input should be a valid number" in answer.json()["message"]
        assert VALIDATED == [1]  # the strict pass's; FastAPI's refused it
        assert client.post("/once", json={"x": 2, "y": 2**70}).json()["y"] == float(2**70)
        assert client.post("/once", json={"x": 3, "extra": "7" * 400}).json()["extra"] == "7" * 400
    assert VALIDATED == [1, 2, 3, 3]  # a long run of digits anywhere: both passes, as before


def test_a_body_fastapi_did_not_decode_is_validated_by_fastapi_as_before() -> None:
    # Sent as text: the strict pass reads it as JSON (and refuses a wrong type), but FastAPI
    # hands its field the bytes, not that object, so the field validates them itself (and
    # refuses them: bytes are no object). Nothing of the strict pass is taken for them.
    with _client() as client:
        refused = client.post("/once", content=b'{"x": "3"}', headers={"content-type": "text/plain"})
        answer = client.post("/once", content=b'{"x": 3}', headers={"content-type": "text/plain"})
    assert refused.status_code == 422 and "x" in refused.text
    assert answer.status_code == 422 and "should be a valid dictionary" in answer.text
    assert VALIDATED == [3]  # the strict pass's, which the field did not take


def test_a_strict_value_is_handed_only_to_its_own_object_and_once() -> None:
    async def endpoint(point: Checked[Point]) -> None:
        """A route of one checked body."""

    route = APIRoute("/p", endpoint, methods=["POST"])
    field = TypeAdapter(Checked[Point])

    def one_request() -> None:
        parsed = {"x": 1}
        jsontypes.check(route, b'{"x": 1}', parsed)
        strict = VALIDATED[:]
        equal = {"x": 1}  # the same text decoded again: another object
        assert field.validate_python(equal).x == 1 and len(VALIDATED) == len(strict) + 1
        kept = field.validate_python(parsed)
        assert len(VALIDATED) == len(strict) + 1  # handed over, not validated again
        assert field.validate_python(parsed) is not kept and len(VALIDATED) == len(strict) + 2  # once

    contextvars.copy_context().run(one_request)
    assert VALIDATED == [1, 1, 1]


def test_every_json_body_of_the_api_is_checked() -> None:
    # A body parameter without `Checked` would still be strict, but validated twice.
    from ductwork.server.app import ROUTERS

    bodies = [
        (route.path, param)
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        for param in route.dependant.body_params
        if not isinstance(param.field_info, type(Form()))
    ]
    assert len(bodies) > 20
    unchecked = [
        path
        for path, param in bodies
        if not any(isinstance(m, jsontypes._Reused) for m in param.field_info.metadata)
    ]
    assert unchecked == []
