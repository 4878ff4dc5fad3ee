"""Fixtures of the pipeline tests: an isolated home and the decorator's mode put back after."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def home(ductwork_home: Path) -> Iterator[Path]:
    from ductwork.pipelines.decorator import _defaults

    saved = _defaults.mode, _defaults.queue
    yield ductwork_home
    _defaults.mode, _defaults.queue = saved
    # A controller that never ran here stays the script's current task (as after Task.init):
    # the next test is another script.
    from ductwork.sdk import current

    current.set_main(None)


@pytest.fixture(params=["debug", "local"])
def mode(request: pytest.FixtureRequest, home: Path) -> str:
    """Each test once with steps as in-process calls and once as local processes."""
    from ductwork import PipelineDecorator

    if request.param == "debug":
        PipelineDecorator.debug_pipeline()
    else:
        PipelineDecorator.run_locally()
    return str(request.param)


def backend():  # type: ignore[no-untyped-def]
    from ductwork import client

    return client.backend()
