"""Which stored locations a server may read: its artifact root and the prefixes an admin allowed.

A record's `uri` comes from a client, so the server treats it as hostile: it reads, serves or
deletes bytes only at a location that passes `StorageRule.check`. Everything the check refuses
is refused whatever its spelling, because what fsspec, the OS or a remote server would make
of a string is hard to predict (percent-decoding, `::` chaining, `local://`, backslashes,
`~`, relative paths, NUL, look-alike Unicode). So the rule is an allow-list, not a deny-list:

* a local location is an absolute path (or a `file:///` URL) whose real path (symlinks
  resolved) lies under the artifact root or an allowed local prefix, below no dot-named
  folder or file (the server's own marker and in-progress uploads), and is not one of the
  server's private files (its SQLite database and the database's journals);
* a remote location is a URL of an object store or web scheme that starts with an allowed
  prefix, segment-aligned (`s3://bucket/team/` never covers `s3://bucket/teammates/`).

The SDK uses the same rule (without resolving links: those are the server's to see) to
refuse an `output_uri` the server would not accept before it writes any bytes there.
Stdlib only: this runs in step processes and in the server.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote

from ductwork.core.errors import ValidationError
from ductwork.core.patterns import Pattern

SETTING = "`ductwork server --allow-storage PREFIX` (or DUCTWORK_ALLOWED_STORAGE)"

# Object stores and the web: schemes whose fsspec filesystems read a remote service, never
# this machine's files. `local`, `file` (as a prefix), `memory`, and the wrapping or archive
# filesystems (`simplecache`, `zip`, `reference`, ...) can open local paths and are not here.
REMOTE_SCHEMES = frozenset(
    {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oss", "oci", "http", "https", "hdfs", "webhdfs"}
)

MAX_LENGTH = 4096
_ESCAPE = Pattern(r"%[0-9A-Fa-f]{2}")
# Characters a path or URL parser gives meaning to: a look-alike of one of them is refused.
_MEANINGFUL = set("/\\.:%?#@;~")


class LocationRefused(ValidationError):
    """A stored location outside what this server reads."""


@dataclass(frozen=True)
class Location:
    """A checked location: `path` (a real local path) or `url` (a remote URL), never both."""

    path: str = ""
    url: str = ""


@dataclass(frozen=True)
class StorageRule:
    """The locations a server reads: under `roots` (local real paths) or `prefixes` (URLs)."""

    roots: tuple[str, ...]
    prefixes: tuple[str, ...]
    private: tuple[str, ...] = ()  # real paths never read, with their `-wal`/`-shm`/`-journal`

    @classmethod
    def build(cls, root: str, allowed: Iterable[str] = (), private: Iterable[str] = ()) -> StorageRule:
        """The rule of a server with artifact root `root` (always allowed, local or remote) and
        the admin's `allowed` prefixes; a malformed prefix is an error naming the setting."""
        roots: list[str] = []
        prefixes: list[str] = []
        for index, given in enumerate([root, *allowed]):
            what = "the artifact root" if index == 0 else f"allowed storage prefix {given!r}"
            _lexical(given, what)
            if _scheme(given) in ("", "file"):
                path = _plain_path(given, what)
                roots.append(os.path.realpath(path))
            else:
                prefixes.append(_remote_prefix(given, what))
        real_private = tuple(os.path.realpath(p) for p in private if p)
        return cls(tuple(dict.fromkeys(roots)), tuple(dict.fromkeys(prefixes)), real_private)

    def describe(self) -> list[str]:
        """The allowed places, as a client would write them."""
        return [*self.roots, *self.prefixes]

    def check(self, uri: str, what: str = "uri", *, resolve: bool = True) -> Location:
        """`uri` as a `Location` this server may read, or `LocationRefused` naming `what`.

        `resolve=False` (a client checking where it will write) skips what only the server's
        machine can see: symlinks and its private files."""
        if not isinstance(uri, str) or not uri:
            raise LocationRefused(f"{what} must be a non-empty string")
        _lexical(uri, what)
        scheme = _scheme(uri)
        if scheme in ("", "file"):
            return Location(path=self._local(uri, what, resolve))
        url = _remote_url(uri, what)
        if not any(url.startswith(prefix) for prefix in self.prefixes):
            raise LocationRefused(
                f"{what} {uri!r} is outside the storage this server reads ({self._places()}); "
                f"an admin allows more with {SETTING}"
            )
        return Location(url=url)

    def _local(self, uri: str, what: str, resolve: bool) -> str:
        path = _plain_path(uri, what)
        real = os.path.realpath(path) if resolve else os.path.normpath(path)
        for root in self.roots:
            base = root if resolve else os.path.normpath(root)
            if real == base or os.path.commonpath([real, base]) != base:
                continue
            inside = os.path.relpath(real, base).split(os.sep)
            if any(part.startswith(".") for part in inside):
                raise LocationRefused(f"{what} {uri!r} names a hidden file of the server's storage")
            if resolve and self._is_private(real):
                raise LocationRefused(f"{what} {uri!r} is one of the server's own files")
            return real
        raise LocationRefused(
            f"{what} {uri!r} is outside the storage this server reads ({self._places()}); "
            f"an admin allows more with {SETTING}"
        )

    def _is_private(self, real: str) -> bool:
        for private in self.private:
            if real == private or (
                os.path.dirname(real) == os.path.dirname(private)
                and os.path.basename(real).startswith(os.path.basename(private) + "-")
            ):
                return True
        return False

    def _places(self) -> str:
        return ", ".join(self.describe()) or "nothing"


def _scheme(uri: str) -> str:
    """The lower-case scheme of `scheme://...`, '' for a plain path."""
    scheme, sep, _ = uri.partition("://")
    if not sep:
        return ""
    return scheme.lower()


def _lexical(uri: str, what: str) -> None:
    """Refuse spellings whose meaning depends on who parses them."""
    if len(uri) > MAX_LENGTH:
        raise LocationRefused(f"{what} is longer than {MAX_LENGTH} characters")
    if "::" in uri:
        raise LocationRefused(f"{what} {uri!r}: chained fsspec URLs ('::') are not accepted")
    for form in _decodings(uri, what):
        if "\\" in form:
            raise LocationRefused(f"{what} {uri!r}: backslashes are not accepted")
        for char in form:
            category = unicodedata.category(char)
            if category in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp") or (char.isspace() and char != " "):
                raise LocationRefused(f"{what} {uri!r}: control or invisible characters are not accepted")
            if ord(char) > 127 and _MEANINGFUL & set(unicodedata.normalize("NFKC", char)):
                raise LocationRefused(f"{what} {uri!r}: {char!r} looks like a path or URL delimiter")
        segments = form.split("/")
        if ".." in segments or any(s.strip(". ") == "" and s not in ("", ".") for s in segments):
            raise LocationRefused(f"{what} {uri!r}: '..' segments are not accepted")
        if "::" in form:
            raise LocationRefused(f"{what} {uri!r}: chained fsspec URLs ('::') are not accepted")


def _decodings(uri: str, what: str) -> list[str]:
    """`uri` and each percent-decoding of it: a check must hold for every reader's view."""
    forms = [uri]
    while _ESCAPE.search(forms[-1]):
        if len(forms) > 3:
            raise LocationRefused(f"{what} {uri!r}: nested percent-encoding is not accepted")
        try:
            forms.append(unquote(forms[-1], errors="strict"))
        except UnicodeDecodeError:
            raise LocationRefused(f"{what} {uri!r}: percent-escapes that are not UTF-8") from None
    return forms


def _plain_path(uri: str, what: str) -> str:
    """The absolute local path of a plain path or a `file:///` URL (nothing else)."""
    if _scheme(uri) == "file":
        rest = uri[len("file://") :]
        if rest.lower().startswith("localhost/"):
            rest = rest[len("localhost") :]
        if not rest.startswith("/") or rest.startswith("//"):
            raise LocationRefused(f"{what} {uri!r}: only file:///path URLs (this machine) are accepted")
        if "?" in rest or "#" in rest:
            raise LocationRefused(f"{what} {uri!r}: a file URL with a query or fragment is not accepted")
        path = _decodings(rest, what)[1] if _ESCAPE.search(rest) else rest
        if _ESCAPE.search(path):
            raise LocationRefused(f"{what} {uri!r}: double percent-encoding is not accepted")
    else:
        path = uri
        if _ESCAPE.search(path):
            raise LocationRefused(f"{what} {uri!r}: a path with percent-escapes is not accepted")
    if not path.startswith("/") or path.startswith("//"):
        raise LocationRefused(f"{what} {uri!r}: a local location must be an absolute path")
    return path


def _remote_url(uri: str, what: str) -> str:
    """`uri` with its scheme (and a web host) lower-cased, if it is a plain remote URL."""
    scheme, _, rest = uri.partition("://")
    scheme = scheme.lower()
    if scheme not in REMOTE_SCHEMES:
        raise LocationRefused(f"{what} {uri!r}: scheme {scheme!r} is not an object store or web URL")
    host, slash, path = rest.partition("/")
    if not host or not slash:
        raise LocationRefused(f"{what} {uri!r}: a remote URL needs a host or bucket and a path")
    if any(c in uri for c in "?#") or "@" in host:
        raise LocationRefused(f"{what} {uri!r}: credentials, queries and fragments are not accepted")
    if scheme in ("http", "https"):
        host = host.lower()
    return f"{scheme}://{host}/{path}"


def _remote_prefix(prefix: str, what: str) -> str:
    url = _remote_url(prefix if prefix.count("/") > 2 else prefix + "/", what)
    return url if url.endswith("/") else url + "/"
