"""Configuration objects in the cache key: each one a part, named when it changes."""

from __future__ import annotations

from ductwork.core import cachekey
from ductwork.core.cachekey import CacheInputs


def test_a_configuration_is_part_of_the_key_and_named_when_it_changes() -> None:
    before = CacheInputs(code="f", configuration={"settings": '{"n": 1}', "other": "x"})
    after = CacheInputs(code="f", configuration={"settings": '{"n": 2}', "other": "x"})
    assert cachekey.key(before) != cachekey.key(after)
    why = cachekey.explain(cachekey.parts(before), cachekey.parts(after))
    assert why == "configuration 'settings' changed"
    added = CacheInputs(code="f", configuration={**before.configuration, "new": ""})
    assert "configuration 'new' added" in cachekey.explain(cachekey.parts(before), cachekey.parts(added))


def test_a_step_without_configuration_keeps_its_key() -> None:
    """Keys stored before configurations counted still match a step that has none: this is the
    key the scheme gave before (a stored cache entry's key)."""
    inputs = CacheInputs(code="f", parameters={"a": 1}, requirements=["x"])
    assert cachekey.key(inputs) == "4b4fc49de500e700179cf2a6044f55b31a42335f35e1c60672374ffdb2c01ebd"
