"""A byte range of an object in object storage is read by asking the store for those bytes.

The server opens an S3 object through fsspec (`locations.open_file`); a range request seeks,
so the object store is asked for the bytes around the range (s3fs reads a block at a time)
rather than the whole object being sent through the server.
"""

from __future__ import annotations

import pytest

from ductwork.artifacts.allowed import StorageRule
from ductwork.server.services import locations
from s3server import S3Server


def test_an_s3_object_is_read_from_the_asked_offset(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3_server.use(monkeypatch)
    bucket = s3_server.bucket()
    data = bytes(i % 251 for i in range(12 << 20))
    url = f"{bucket}/artifacts/blobs/big.bin"
    s3_server.filesystem().pipe(url, data)
    import s3fs

    fetched: list[tuple[int, int]] = []
    fetch = s3fs.core.S3File._fetch_range

    def counted(self: s3fs.core.S3File, start: int, end: int) -> bytes:
        fetched.append((start, end))
        return bytes(fetch(self, start, end))

    monkeypatch.setattr(s3fs.core.S3File, "_fetch_range", counted)
    rule = StorageRule.build(f"{bucket}/artifacts")
    file = locations.open_file(rule, url, "a blob")
    assert file.size == len(data)
    assert file.head() == data[: locations.HEAD]
    first, length = 11 << 20, 1000
    assert b"".join(file.chunks(first, length)) == data[first : first + length]
    # what the server asked of the store: the head's block and the range's, not all 12 MiB
    assert fetched and all(stop - start <= 4 << 20 for start, stop in fetched), fetched
    assert sum(stop - start for start, stop in fetched) < len(data), fetched
    assert any(start <= first < stop for start, stop in fetched), fetched
    with pytest.raises(Exception, match="not in this server's storage"):
        locations.open_file(rule, f"{bucket}/elsewhere/big.bin", "a blob")
