"""The artifact serializer pair of the route tests: pickle behind a header that the stored bytes
show. tests/pipelines/test_route_codecs.py passes these functions to its pipelines;
tests/integration/artifacts/test_route_machines.py puts this file's text at the top of the
scripts it runs on other machines."""

from __future__ import annotations

import pickle
from typing import Any

HEADER = b"ROUTE-CODEC/1\n"


def with_header(value: Any) -> bytes:
    return HEADER + pickle.dumps(value)


def without_header(data: bytes) -> Any:
    if not data.startswith(HEADER):
        raise ValueError(f"not written by with_header: {data[:24]!r}")
    return pickle.loads(data[len(HEADER) :])
