"""Pipeline versions: PEP 440 style strings (``1``, ``1.2.3``, ``1.0.0rc1``, ``1.0.post1``, ``1.0.dev2``).

Only the canonical spellings are accepted (release numbers, then an optional ``a``/``b``/``rc``
pre-release, ``.postN`` and ``.devN``), which is what a version column can sort and compare.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ductwork.core.errors import ValidationError
from ductwork.core.patterns import Pattern

__all__ = ["DEFAULT", "bump", "is_valid", "max_version", "sort_key"]

DEFAULT = "1.0.0"  # the version of a pipeline's first run when none was given

_PATTERN = Pattern(
    r"(?P<release>\d+(?:\.\d+)*)"
    r"(?:(?P<pre_letter>a|b|rc)(?P<pre>\d+))?"
    r"(?:\.post(?P<post>\d+))?"
    r"(?:\.dev(?P<dev>\d+))?"
)
_PRE_ORDER = {"a": 0, "b": 1, "rc": 2}
_INF = float("inf")


@dataclass(frozen=True)
class _Parsed:
    release: tuple[int, ...]
    pre: tuple[str, int] | None
    post: int | None
    dev: int | None


def is_valid(v: str) -> bool:
    """True for a version this module understands."""
    return isinstance(v, str) and _PATTERN.fullmatch(v) is not None


def bump(v: str) -> str:
    """The next version: the dev number if there is one, else post, else pre-release, else the last
    release number (``1.0.0`` -> ``1.0.1``, ``1.2`` -> ``1.3``, ``1.0.0rc1`` -> ``1.0.0rc2``)."""
    parsed = _parse(v)
    if parsed.dev is not None:
        return _format(parsed, dev=parsed.dev + 1)
    if parsed.post is not None:
        return _format(parsed, post=parsed.post + 1)
    if parsed.pre is not None:
        return _format(parsed, pre=(parsed.pre[0], parsed.pre[1] + 1))
    release = (*parsed.release[:-1], parsed.release[-1] + 1)
    return _format(_Parsed(release, None, None, None))


def sort_key(v: str) -> tuple[object, ...]:
    """A key ordering versions as PEP 440 does: ``1.0.dev1 < 1.0a1 < 1.0 < 1.0.post1``; ``1.0 == 1.0.0``."""
    parsed = _parse(v)
    release = list(parsed.release)
    while len(release) > 1 and release[-1] == 0:
        release.pop()  # 1.0.0 and 1 are the same release
    if parsed.pre is not None:
        pre: tuple[float, int] = (_PRE_ORDER[parsed.pre[0]], parsed.pre[1])
    elif parsed.post is None and parsed.dev is not None:
        pre = (-_INF, 0)  # 1.0.dev1 comes before 1.0a1
    else:
        pre = (_INF, 0)
    post = -_INF if parsed.post is None else parsed.post
    dev = _INF if parsed.dev is None else parsed.dev
    return (tuple(release), pre, post, dev)


def max_version(versions: Iterable[str]) -> str | None:
    """The highest valid version among ``versions`` (invalid strings are ignored), or None."""
    valid = [v for v in versions if is_valid(v)]
    return max(valid, key=sort_key) if valid else None


def _parse(v: str) -> _Parsed:
    match = _PATTERN.fullmatch(v) if isinstance(v, str) else None
    if match is None:
        raise ValidationError(
            f"version {v!r} is not valid: expected numbers separated by dots, optionally followed by "
            f"a1/b1/rc1, .post1 and .dev1 (e.g. '1.2.0', '1.0.0rc1', '1.0.post2')"
        )
    pre = (match["pre_letter"], int(match["pre"])) if match["pre_letter"] else None
    return _Parsed(
        tuple(int(part) for part in match["release"].split(".")),
        pre,
        int(match["post"]) if match["post"] is not None else None,
        int(match["dev"]) if match["dev"] is not None else None,
    )


def _format(
    parsed: _Parsed,
    *,
    pre: tuple[str, int] | None = None,
    post: int | None = None,
    dev: int | None = None,
) -> str:
    pre = pre if pre is not None else parsed.pre
    post = post if post is not None else parsed.post
    dev = dev if dev is not None else parsed.dev
    text = ".".join(str(part) for part in parsed.release)
    if pre is not None:
        text += f"{pre[0]}{pre[1]}"
    if post is not None:
        text += f".post{post}"
    if dev is not None:
        text += f".dev{dev}"
    return text
