"""The soak benchmark, small: 4 writer processes x 5,000 scalar points through a real server
that is killed (SIGKILL) and started again once while they write. Every acknowledged point is
in the store (SQLite and PostgreSQL)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fault_harness import ROOT

pytestmark = pytest.mark.slow


def test_every_acknowledged_point_survives_a_server_restart(db_url: str | None, tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from bench_soak import soak
    finally:
        sys.path.remove(str(ROOT / "bench"))
    result = soak(4, 5_000, 1, db_url=db_url, down_s=1.0, work=tmp_path)
    assert result.restarts == 1
    assert not result.failed_writers, result.failed_writers
    assert result.acknowledged == result.sent == 20_000
    assert result.missing == 0, result
    assert result.stored >= result.acknowledged
