"""`Range` / `If-Range` parsing (services/byteranges.py) and reading a range of a stored file."""

from __future__ import annotations

from pathlib import Path

import pytest

from ductwork.artifacts.allowed import StorageRule
from ductwork.server.services import locations
from ductwork.server.services.byteranges import Asked, BadRange, ByteRange, Unsatisfiable, parse

SIZE = 1000


def range_of(
    header: str, size: int = SIZE, *, if_range: str | None = None, etag: str | None = None
) -> object:
    headers = {"range": header} if if_range is None else {"range": header, "if-range": if_range}
    return Asked.of(headers).range_in(size, etag)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-0", ByteRange(0, 0)),
        ("bytes=0-499", ByteRange(0, 499)),
        ("bytes=500-", ByteRange(500, 999)),
        ("bytes=-100", ByteRange(900, 999)),
        ("bytes=-5000", ByteRange(0, 999)),  # a suffix longer than the file: all of it
        ("bytes=990-5000", ByteRange(990, 999)),  # past the end: cut at the end
        ("BYTES = 1 - 2 ", ByteRange(1, 2)),  # the unit is case-insensitive; spaces around are fine
        ("bytes=0-" + "9" * 5000, ByteRange(0, 999)),  # a huge last position is "the end"
        ("bytes=-" + "9" * 5000, ByteRange(0, 999)),
        ("bytes=" + "0" * 300 + "7-8", ByteRange(7, 8)),  # leading zeros are still small numbers
        ("bytes=3-4,", ByteRange(3, 4)),  # an empty list element is allowed by the grammar
    ],
)
def test_one_range_is_served(header: str, expected: ByteRange) -> None:
    assert range_of(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        "bytes=1000-",
        "bytes=1000-2000",
        "bytes=-0",
        "bytes=" + "9" * 5000 + "-",
        "bytes=99999999999999999999-",
    ],
)
def test_a_range_outside_the_file_is_unsatisfiable(header: str) -> None:
    with pytest.raises(Unsatisfiable, match="outside the file of 1000 bytes") as caught:
        range_of(header)
    assert caught.value.size == SIZE


def test_an_empty_file_satisfies_no_range() -> None:
    for header in ("bytes=0-", "bytes=-1", "bytes=0-0"):
        with pytest.raises(Unsatisfiable):
            range_of(header, 0)


@pytest.mark.parametrize(
    ("header", "says"),
    [
        ("bytes=5-2", "ends before it starts"),
        ("bytes=-5-10", "is not 'first-last'"),
        ("bytes=--5", "is not 'first-last'"),
        ("bytes=-", "is not 'first-last'"),
        ("bytes=a-b", "is not 'first-last'"),
        ("bytes=+1-2", "is not 'first-last'"),
        ("bytes=1.5-2", "is not 'first-last'"),
        ("bytes=\u00b2-3", "is not 'first-last'"),  # a digit to str.isdigit, not to HTTP
        ("bytes=0-1\x00", "is not 'first-last'"),
        ("bytes=5", "is not 'first-last'"),
        ("bytes=", "names no byte range"),
        ("bytes=,,", "names no byte range"),
        ("garbage", "is not '<unit>=<ranges>'"),
        ("=0-1", "is not '<unit>=<ranges>'"),
        ("by tes=0-1", "is not '<unit>=<ranges>'"),
        ("\x00=0-1", "is not '<unit>=<ranges>'"),
        ("bytes=0-1,2-x", "'2-x'"),  # every range of a list is checked, not only the first
    ],
)
def test_a_malformed_range_is_named(header: str, says: str) -> None:
    with pytest.raises(BadRange, match="Range header") as caught:
        parse(header)
    message = str(caught.value)
    assert says in message
    assert "\x00" not in message  # quoted back escaped


def test_a_refused_header_is_quoted_short() -> None:
    with pytest.raises(BadRange) as caught:
        parse("bytes=" + "x" * 100_000)
    assert len(str(caught.value)) < 400


def test_several_ranges_another_unit_or_no_header_mean_the_whole_file() -> None:
    assert range_of("bytes=0-1,5-6") is None
    assert range_of(",".join(["bytes=0-1"] + ["2-3"] * 10_000)) is None
    assert range_of("items=0-5") is None
    assert Asked.of({}).range_in(SIZE, None) is None
    assert Asked.of({"range": "bytes=0-1"}).range_in(None, None) is None  # size unknown


def test_if_range_must_name_this_file() -> None:
    etag = '"' + "a" * 64 + '"'
    assert range_of("bytes=0-1", if_range=etag, etag=etag) == ByteRange(0, 1)
    assert range_of("bytes=0-1", if_range='"' + "b" * 64 + '"', etag=etag) is None
    assert range_of("bytes=0-1", if_range="Wed, 21 Oct 2015 07:28:00 GMT", etag=etag) is None
    assert range_of("bytes=0-1", if_range=etag, etag=None) is None


def test_a_stored_file_reads_only_the_range(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    data = bytes(range(256)) * 40
    (root / "blob.bin").write_bytes(data)
    rule = StorageRule.build(str(root), ())
    file = locations.open_file(rule, str(root / "blob.bin"), "a blob")
    assert file.size == len(data)
    assert file.head() == data[: locations.HEAD]
    assert b"".join(file.chunks(0, 3000)) == data[:3000]  # back to 0 after the head
    assert file.handle.closed
    file = locations.open_file(rule, str(root / "blob.bin"), "a blob")
    assert b"".join(file.chunks(1000, 3000)) == data[1000:4000]
    with pytest.raises(Exception, match="not in this server's storage"):
        locations.open_file(rule, str(tmp_path / "elsewhere.bin"), "a blob")
    inline = locations.inline_file(b"0123456789")
    assert b"".join(inline.chunks(3, 4)) == b"3456"
