"""Code capture carries a pipeline's artifact (de)serialization functions inside a step's module,
under the names the step runner reads (`runner.SERIALIZE` / `runner.DESERIALIZE`)."""

from __future__ import annotations

import json
import pickle
from typing import Any

import pytest

from ductwork import codegen
from ductwork.core.errors import ValidationError
from ductwork.pipelines.runner import DESERIALIZE, SERIALIZE, codec_bindings, codecs_of

MARK = b"MARK:"


def step(x):
    return x + 1


def tagged(value):
    return MARK + json.dumps(value).encode()


def untagged(data):
    return json.loads(data[len(MARK) :])


def _module(captured: codegen.Captured) -> Any:
    return codegen.load(captured, "route_codegen_step")


def test_user_functions_travel_as_their_source_with_an_alias() -> None:
    captured = codegen.capture(step, bindings=codec_bindings(tagged, untagged))
    assert f"{SERIALIZE} = tagged" in captured.source
    assert f"{DESERIALIZE} = untagged" in captured.source
    assert "import json" in captured.source
    serialize, deserialize = codecs_of(_module(captured))
    assert serialize is not None and deserialize is not None
    assert serialize({"a": 1}) == b'MARK:{"a": 1}'
    assert deserialize(b'MARK:{"a": 1}') == {"a": 1}
    # another serializer is another step: another digest, so another cache key
    assert codegen.capture(step, bindings=codec_bindings(pickle.dumps, None)).digest != captured.digest


def test_installed_functions_travel_as_imports() -> None:
    captured = codegen.capture(step, bindings=codec_bindings(pickle.dumps, pickle.loads))
    assert f"import dumps as {SERIALIZE}" in captured.source
    serialize, deserialize = codecs_of(_module(captured))
    assert deserialize is not None and serialize is not None
    assert deserialize(serialize([1, 2])) == [1, 2]


def test_a_step_without_them_defines_neither() -> None:
    captured = codegen.capture(step, bindings=codec_bindings(None, None))
    assert codecs_of(_module(captured)) == (None, None)
    assert SERIALIZE not in captured.source


def test_a_function_without_source_is_refused_by_name() -> None:
    namespace: dict[str, Any] = {}
    exec("def typed_in(value):\n    return b''\n", namespace)  # as in a REPL: no file to read
    with pytest.raises(ValidationError, match=f"^{SERIALIZE}: cannot capture .*needs it as code"):
        codegen.capture(step, bindings=codec_bindings(namespace["typed_in"], None))
