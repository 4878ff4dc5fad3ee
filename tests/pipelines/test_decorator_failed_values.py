"""Using the value of a component that did not complete raises, and says why (issue 13, item 3).

A component skipped because its parent failed has no value: using it raises an error that names
the failed step, instead of standing for None. A failed component's own value names its error."""

from __future__ import annotations

import pytest

from ductwork import PipelineDecorator


@PipelineDecorator.component(return_values=["never"])
def breaks(x):
    raise RuntimeError(f"broken by {x}")


@PipelineDecorator.component(return_values=["after"])
def after_break(x):
    return x + 1


@PipelineDecorator.pipeline(name="skipping", project="tests")
def skipping(x: int = 1):
    return after_break(breaks(x))


@PipelineDecorator.pipeline(name="failing_value", project="tests")
def failing_value(x: int = 1):
    return breaks(x)


def test_a_skipped_components_value_names_the_failed_step(mode: str) -> None:
    with pytest.raises(
        ValueError, match=r'"after_break" was skipped: step "breaks", .* failed: RuntimeError: broken by 7$'
    ):
        skipping(x=7)


def test_a_failed_components_value_ends_with_its_error(mode: str) -> None:
    with pytest.raises(ValueError, match=r'Pipeline step "breaks", .* failed: RuntimeError: broken by 5$'):
        failing_value(x=5)
