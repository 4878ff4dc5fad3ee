"""The attack fixture itself: a server process with its own home answers each account."""

from __future__ import annotations

from attack import ServerProcess


def test_each_account_reaches_the_server_with_its_own_key(server: ServerProcess) -> None:
    for account in (server.admin, server.alice, server.bob):
        with server.client(account.key) as client:
            assert client.get("/api/queues").status_code == 200
    with server.client() as anonymous:
        assert anonymous.get("/api/queues").status_code == 401
