"""Fixtures of the pipeline tests: an isolated home and the decorator's mode put back after."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def home(ductwork_home: Path) -> Iterator[Path]:
    from ductwork import PipelineDecorator

    saved = PipelineDecorator._mode, PipelineDecorator._class_queue
    yield ductwork_home
    PipelineDecorator._mode, PipelineDecorator._class_queue = saved


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
