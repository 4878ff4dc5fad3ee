"""The storage rule: which stored locations a server reads, whatever their spelling."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ductwork.artifacts.allowed import LocationRefused, StorageRule
from ductwork.core.errors import ValidationError


@pytest.fixture
def home(tmp_path: Path) -> Path:
    root = tmp_path / "home" / "artifacts" / "blobs" / "ab"
    root.mkdir(parents=True)
    (root / "blob.npy").write_bytes(b"x")
    (tmp_path / "home" / "ductwork.db").write_bytes(b"db")
    return tmp_path / "home"


@pytest.fixture
def rule(home: Path) -> StorageRule:
    return StorageRule.build(
        str(home / "artifacts"),
        ["s3://bucket/team", "https://Files.Example.com/shared/"],
        private=[str(home / "ductwork.db")],
    )


def test_locations_under_the_root_and_the_allowed_prefixes_are_read(rule: StorageRule, home: Path) -> None:
    blob = home / "artifacts" / "blobs" / "ab" / "blob.npy"
    for spelling in (str(blob), f"file://{blob}", f"file://localhost{blob}", f"FILE://{blob}"):
        assert rule.check(spelling).path == os.path.realpath(blob)
    assert rule.check("s3://bucket/team/blobs/ab/x.npy").url == "s3://bucket/team/blobs/ab/x.npy"
    assert rule.check("S3://bucket/team/x").url == "s3://bucket/team/x"
    assert (
        rule.check("https://files.example.com/shared/a.png").url == "https://files.example.com/shared/a.png"
    )


HOSTILE = [
    "local:///etc/shadow",
    "LOCAL:///etc/passwd",
    "simplecache::file:///etc/passwd",
    "filecache::file:///etc/passwd",
    "blockcache::s3://bucket/team/x",
    "s3://bucket/team/x::file:///etc/passwd",
    "zip://a::file:///tmp/a.zip",
    "file://otherhost/etc/passwd",
    "file:////etc/passwd",
    "file:/etc/passwd",
    "/etc/passwd",
    "etc/passwd",
    "~/.ssh/id_rsa",
    "~root/.ssh/id_rsa",
    "//etc/passwd",
    "memory://x/y",
    "reference://x/y",
    "data:text/html,<script>1</script>",
    "http://169.254.169.254/latest/meta-data/",
    "http://127.0.0.1:5432/",
    "s3://bucket/teammates/x",
    "s3://bucket/tea",
    "s3://other/team/x",
    "https://files.example.com/sharedx/a.png",
    "https://files.example.com@evil.example/shared/a.png",
    "https://user:pw@files.example.com/shared/a.png",
    "https://files.example.com/shared/a.png?redirect=http://evil",
    "https://files.example.com/shared/a.png#x",
    "s3://bucket/team/../other/x",
    "s3://bucket/team/%2e%2e/other/x",
    "s3://bucket/team/%2E%2E%2Fother/x",
    "s3://bucket/team/%252e%252e/other/x",
    "s3://bucket/team/%25252e%25252e/other/x",
    "s3://bucket/team/a\\..\\..\\x",
    "s3://bucket/team/a%5c..%5cx",
    "s3://bucket/team/a\x00b",
    "s3://bucket/team/a%00b",
    "s3://bucket/team/\u2024\u2024/x",  # one-dot leader: NFKC makes it "."
    "s3://bucket/team/\uff0e\uff0e/x",  # fullwidth full stops
    "s3://bucket/team\uff0fx",  # fullwidth solidus
    "s3://bucket/team/a\u202eb",  # right-to-left override
    "s3://bucket/team/a\u200bb",  # zero-width space
    "",
]


@pytest.mark.parametrize("uri", HOSTILE)
def test_hostile_locations_are_refused(rule: StorageRule, uri: str) -> None:
    with pytest.raises(LocationRefused):
        rule.check(uri, "artifact 'x': uri")


def test_local_escapes_are_refused_in_every_encoding(rule: StorageRule, home: Path) -> None:
    root = str(home / "artifacts")
    for uri in (
        f"{root}/../ductwork.db",
        f"{root}/blobs/../../ductwork.db",
        f"file://{root}/../ductwork.db",
        f"file://{root}/%2e%2e/ductwork.db",
        f"file://{root}/%2E%2E%2Fductwork.db",
        f"file://{root}/%252e%252e/ductwork.db",
        f"file://{root}/%c0%ae%c0%ae/ductwork.db",  # overlong UTF-8 dots
        f"{root}/%2e%2e/ductwork.db",
        f"{root}\\..\\ductwork.db",
        f"{root}/..\\ductwork.db",
        f"{root}/\uff0e\uff0e/ductwork.db",
        f"{root}/ .. /ductwork.db",
        f"{root}/.../ductwork.db",
        f"{root}/blobs/ab/blob.npy\x00.png",
        f"{root}/blobs/ab/blob.npy\n",
        f"{root}/.ductwork-server",
        f"{root}/blobs/.incoming-123",
        root,
        str(home / "ductwork.db"),
        f"file://{home}/ductwork.db",
    ):
        with pytest.raises(LocationRefused):
            rule.check(uri)


def test_a_symlink_out_of_the_root_is_refused_and_one_inside_is_followed(
    rule: StorageRule, home: Path
) -> None:
    folder = home / "artifacts" / "blobs" / "ab"
    (folder / "out").symlink_to("/etc/passwd")
    (folder / "db").symlink_to(home / "ductwork.db")
    (folder / "dir").symlink_to(home)
    (folder / "in").symlink_to(folder / "blob.npy")
    for name in ("out", "db", "dir/ductwork.db"):
        with pytest.raises(LocationRefused):
            rule.check(str(folder / name))
    assert rule.check(str(folder / "in")).path == os.path.realpath(folder / "blob.npy")


def test_the_database_and_its_journals_are_never_read_even_under_the_root(tmp_path: Path) -> None:
    (tmp_path / "blobs").mkdir()
    rule = StorageRule.build(str(tmp_path), private=[str(tmp_path / "ductwork.db")])
    for name in ("ductwork.db", "ductwork.db-wal", "ductwork.db-shm", "ductwork.db-journal"):
        with pytest.raises(LocationRefused, match="server's own files"):
            rule.check(str(tmp_path / name))
    assert rule.check(str(tmp_path / "blobs" / "a.bin")).path


def test_a_refusal_names_the_field_and_the_setting(rule: StorageRule) -> None:
    with pytest.raises(ValidationError, match=r"model 'm': uri 's3://elsewhere/w.pt' is outside") as caught:
        rule.check("s3://elsewhere/w.pt", "model 'm': uri")
    assert "--allow-storage" in str(caught.value) and "DUCTWORK_ALLOWED_STORAGE" in str(caught.value)


@pytest.mark.parametrize(
    "prefix",
    ["local:///", "simplecache::s3://b/", "memory://x/", "zip://a", "s3://b/../c", "~/data", "relative/dir"],
)
def test_an_allowed_prefix_that_could_reach_local_files_is_a_configuration_error(prefix: str) -> None:
    with pytest.raises(LocationRefused, match="allowed storage prefix"):
        StorageRule.build("/srv/artifacts", [prefix])


def test_a_remote_artifact_root_is_always_allowed() -> None:
    rule = StorageRule.build("s3://team/ductwork")
    assert rule.check("s3://team/ductwork/blobs/ab/x.npy").url
    with pytest.raises(LocationRefused):
        rule.check("s3://team/ductwork-other/x")
    with pytest.raises(LocationRefused):
        rule.check("/etc/passwd")


def test_without_resolving_a_client_checks_only_what_it_can_see(tmp_path: Path) -> None:
    rule = StorageRule.build(str(tmp_path / "root"), ["gs://bucket/"])
    assert rule.check(str(tmp_path / "root" / "blobs"), resolve=False).path
    assert rule.check("gs://bucket/any/blobs", resolve=False).url
    with pytest.raises(LocationRefused):
        rule.check(str(tmp_path / "elsewhere" / "blobs"), resolve=False)
