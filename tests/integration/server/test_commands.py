"""The CLI commands of the server part: users, keys, queues create|delete, and their errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ductwork.agent.commands import queue_create, queue_delete
from ductwork.server.commands import keys_group, users_group


@pytest.fixture
def db(ductwork_home: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DUCTWORK_DB_URL", sqlite_url)
    return sqlite_url


def invoke(command: Any, *args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(command, list(args), input=input, catch_exceptions=False)


def test_users_add_prompts_for_a_password_and_keys_work_once_revoked_never(db: str) -> None:
    from ductwork.store import Store

    added = invoke(users_group, "add", "carol", "--admin", input="long-password\nlong-password\n")
    assert added.exit_code == 0 and "created user carol (admin)" in added.output
    store = Store(db)
    assert store.verify_password("carol", "long-password").name == "carol"
    assert invoke(users_group, "add", "carol", "--password", "another-pass").exit_code != 0  # exists
    short = invoke(users_group, "add", "dave", "--password", "short")
    assert short.exit_code != 0 and "8 characters" in short.output

    created = invoke(keys_group, "create", "--user", "carol", "--name", "laptop")
    assert created.exit_code == 0
    token = created.stdout.strip().splitlines()[0]
    assert store.verify_api_key(token).name == "carol"
    listing = invoke(keys_group, "list")
    key_id = token.partition(".")[0]
    assert key_id in listing.output and token.partition(".")[2] not in listing.output  # never the secret
    assert invoke(keys_group, "revoke", key_id).exit_code == 0
    assert store.verify_api_key(token) is None
    missing = invoke(keys_group, "revoke", "dknope")
    assert missing.exit_code != 0 and "dknope" in missing.output
    unknown = invoke(keys_group, "create", "--user", "nobody")
    assert unknown.exit_code != 0 and "nobody" in unknown.output
    store.close()


def test_queues_create_and_delete(db: str) -> None:
    from ductwork import client

    client.use(None)
    assert invoke(queue_create, "gpu").exit_code == 0
    assert [q.name for q in client.backend().list_queues()] == ["gpu"]
    assert invoke(queue_delete, "gpu").exit_code == 0
    assert client.backend().list_queues() == []
    gone = invoke(queue_delete, "gpu")
    assert gone.exit_code != 0 and "gpu" in gone.output
