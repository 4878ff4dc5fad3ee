"""What a download request's `Range` and `If-Range` headers ask of a stored file (RFC 9110 §14).

One range is served as `206 Partial Content`: `bytes=a-b`, `bytes=a-` and the suffix `bytes=-n`.
A request for several ranges gets the whole file (`200`): a `multipart/byteranges` answer is
something no caller of ours needs (a `<video>` seeking, a download resuming ask for one), and a
server may always ignore `Range`. A range beyond the file is `416` (`Unsatisfiable`). A `Range`
header that is not `<unit>=<ranges>`, or whose byte ranges are not digits and dashes, is refused
with a 400 naming it (`BadRange`), before the file is opened; a unit other than `bytes` is
ignored, as the RFC requires. Numbers too big for any file are clamped rather than parsed
(Python refuses to parse ints of thousands of digits, and a position past 2^60 is past the end
of every file), so a hostile number costs nothing and means "past the end".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ductwork.core.errors import DuctworkError

# A position of more digits than this is past the end of any file: clamped, never parsed.
MAX_DIGITS = 18
BEYOND = 10**MAX_DIGITS
SHOWN = 80  # characters of a refused header quoted back in the error


class BadRange(DuctworkError):
    """A `Range` header that is not a ranges specifier (answered 400, naming it)."""


class Unsatisfiable(DuctworkError):
    """No requested byte is in the file (answered 416 with `Content-Range: bytes */size`)."""

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.size = size


@dataclass(frozen=True)
class ByteRange:
    """Bytes `first` to `last` of a file, both included (HTTP's own convention)."""

    first: int
    last: int

    @property
    def length(self) -> int:
        return self.last - self.first + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.first}-{self.last}/{size}"


@dataclass(frozen=True)
class Spec:
    """One `first-last` of a `bytes=` header: `first` None for a suffix (the last `last` bytes),
    `last` None for "to the end"."""

    first: int | None
    last: int | None

    def __str__(self) -> str:
        return f"bytes={'' if self.first is None else self.first}-{'' if self.last is None else self.last}"

    def within(self, size: int) -> ByteRange | None:
        """The bytes of a file of `size` this spec names, or None when it names none."""
        if self.first is None:
            length = min(self.last or 0, size)
            return ByteRange(size - length, size - 1) if length else None
        if self.first >= size:
            return None
        last = size - 1 if self.last is None else min(self.last, size - 1)
        return ByteRange(self.first, last)


@dataclass(frozen=True)
class Asked:
    """A request's byte ranges (none: the whole file) and its `If-Range` validator."""

    specs: tuple[Spec, ...] = ()
    if_range: str | None = None

    @classmethod
    def of(cls, headers: Mapping[str, str]) -> Asked:
        """Read from request headers; a malformed `Range` raises `BadRange` here, before any
        file is opened."""
        return cls(parse(headers.get("range")), headers.get("if-range"))

    def range_in(self, size: int | None, etag: str | None) -> ByteRange | None:
        """The one range to send of a file of `size` bytes whose ETag is `etag`, or None for the
        whole file: no range asked, several asked, the size is unknown, or an `If-Range` that
        does not name this very file (strong ETag only: we send no Last-Modified to match a
        date against, so a date means the client cannot know it has these bytes)."""
        if len(self.specs) != 1 or size is None:
            return None
        if self.if_range is not None and (etag is None or self.if_range.strip() != etag):
            return None
        found = self.specs[0].within(size)
        if found is None:
            raise Unsatisfiable(f"range {self.specs[0]} is outside the file of {size} bytes", size)
        return found


def parse(header: str | None) -> tuple[Spec, ...]:
    """The byte ranges of a `Range` header value; () for none asked or a unit other than bytes."""
    if header is None:
        return ()
    unit, equals, ranges = header.partition("=")
    unit = unit.strip()
    if not equals or not unit or not _is_token(unit):
        raise BadRange(f"Range header {_shown(header)} is not '<unit>=<ranges>' (e.g. 'bytes=0-1023')")
    if unit.lower() != "bytes":
        return ()  # another unit: ignored (RFC 9110 §14.2), the whole file is sent
    specs = tuple(_spec(part.strip(), header) for part in ranges.split(",") if part.strip())
    if not specs:
        raise BadRange(f"Range header {_shown(header)} names no byte range")
    return specs


def _spec(text: str, header: str) -> Spec:
    first, dash, last = text.partition("-")
    first, last = first.strip(), last.strip()
    if not dash or not (first or last) or not all(_digits(part) for part in (first, last) if part):
        raise BadRange(
            f"Range header {_shown(header)}: {_shown(text)} is not 'first-last', 'first-' or '-suffix' "
            "in digits"
        )
    start, end = (_position(first) if first else None), (_position(last) if last else None)
    if start is not None and end is not None and end < start:
        raise BadRange(f"Range header {_shown(header)}: {_shown(text)} ends before it starts")
    return Spec(start, end)


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _position(digits: str) -> int:
    significant = digits.lstrip("0")
    return BEYOND if len(significant) > MAX_DIGITS else int(significant or "0")


TOKEN_PUNCTUATION = frozenset("!#$%&'*+-.^_`|~")


def _is_token(text: str) -> bool:
    return all(c.isascii() and (c.isalnum() or c in TOKEN_PUNCTUATION) for c in text)


def _shown(text: str) -> str:
    """A refused value quoted back safely: escaped (no control character reaches a log or a
    terminal) and cut to a length a message can carry."""
    cut = text if len(text) <= SHOWN else text[:SHOWN] + "..."
    return ascii(cut)
