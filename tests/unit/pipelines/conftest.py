"""Each test is another script: a controller it made current is not the next test's task."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def no_current_task_after() -> Iterator[None]:
    yield
    from ductwork.sdk import current

    current.set_main(None)
