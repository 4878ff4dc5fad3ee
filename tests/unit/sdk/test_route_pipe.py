"""A local-mode step sends artifact bytes to its controller's server itself (its pipe to the
controller carries no streams); without the server's address in its environment it says so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ductwork.client.pipe import PipeBackend, PipeServer
from ductwork.core.errors import StorageError
from ductwork.sdk import transfer


class ServerOutOfReach:
    """The controller's backend as a step sees it over the pipe: a server this machine cannot
    share storage with."""

    def sends_artifacts_through_server(self, output_uri: str | None = None) -> bool:
        return True

    def close(self) -> None:
        pass


@pytest.fixture
def pipe(ductwork_home: Path) -> Any:
    server = PipeServer(ServerOutOfReach())
    backend = PipeBackend(server.address)
    yield backend
    backend.close()
    server.close()


def test_a_step_without_the_server_address_names_it(pipe: Any, ductwork_home: Path) -> None:
    with pytest.raises(StorageError, match=r"local-mode step .*DUCTWORK_API_URL is not set"):
        transfer.save(pipe, "a" * 32, None, "values", np.arange(1000))
    assert list((ductwork_home / "cache" / "staging").iterdir()) == []  # nothing half-sent left


def test_small_values_need_no_bytes_sent(pipe: Any) -> None:
    record = transfer.save(pipe, "a" * 32, None, "small", {"k": 1})
    assert record.inline is not None
