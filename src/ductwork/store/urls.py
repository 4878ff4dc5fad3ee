"""Database URLs: `sqlite:///PATH` (`sqlite://` in memory) or `postgresql+psycopg://...`, parsed
once into the parts a connection needs, with the password masked wherever a URL is shown."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ductwork.core.errors import StorageError


@dataclass(frozen=True)
class Url:
    """A database URL: `sqlite:///PATH` (`sqlite://` in memory) or `postgresql+psycopg://...`."""

    text: str
    dialect: str
    database: str | None
    user: str | None = None
    password: str | None = None
    host: str | None = None
    port: int | None = None
    query: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.text

    def render(self, *, hide_password: bool = True) -> str:
        """The URL, its password as `***` unless asked."""
        if self.dialect == "sqlite" or self.password is None or not hide_password:
            return self.text
        return self.text.replace(f":{self._raw_password()}@", ":***@", 1)

    def _raw_password(self) -> str:
        netloc = urlsplit(self.text).netloc
        return netloc.rpartition("@")[0].partition(":")[2]

    def connect_args(self) -> dict[str, Any]:
        """psycopg.connect keywords (the query's options, connect_timeout... included)."""
        args: dict[str, Any] = {k: v for k, v in self.query.items()}
        for key, value in (
            ("host", self.host),
            ("port", self.port),
            ("user", self.user),
            ("password", self.password),
            ("dbname", self.database),
        ):
            if value is not None and value != "":
                args[key] = value
        return args


def make_url(text: str) -> Url:
    """The parts of `text`; StorageError when it does not parse (without quoting it)."""
    try:
        scheme, sep, rest = text.partition("://")
        if not sep or not scheme:
            raise ValueError("no scheme")
        dialect = scheme.partition("+")[0].lower()
        if dialect == "sqlite":
            path, _, _query = rest.partition("?")
            if path.startswith("/"):
                path = path[1:]
            return Url(text, dialect, unquote(path) or None)
        parts = urlsplit(text)
        port = parts.port  # raises ValueError for a port that is not a number
        query = dict(parse_qsl(parts.query))
        database = unquote(parts.path[1:]) if parts.path.startswith("/") else None
        user = unquote(parts.username) if parts.username is not None else None
        password = unquote(parts.password) if parts.password is not None else None
        return Url(text, dialect, database or None, user, password, parts.hostname, port, query)
    except (ValueError, AttributeError, TypeError):
        # Not quoted, and `from None`: a URL that does not parse cannot be masked reliably,
        # and the parser's own message and traceback may quote it whole.
        raise StorageError(
            "cannot read the database URL: use sqlite:///PATH or "
            "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE"
        ) from None
