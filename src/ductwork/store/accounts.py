"""Users and API keys for `ductwork server`. Secrets are stored only as scrypt hashes.

An API key is one token `"<key id>.<secret>"`: the id finds the row with an index, the
secret is checked against its hash with a constant-time compare. scrypt is deliberately
slow (~30 ms), so a verified token is remembered per process by its SHA-256; the row is
still read on every call, so a revoked key is refused at once.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import exc

from ductwork.core import settings
from ductwork.core.errors import Conflict, NotFound, ValidationError
from ductwork.core.records import new_id, now
from ductwork.store.common import for_update, insert
from ductwork.store.tables import api_keys, login_failures, users

# scrypt cost: 2**14 x 8 x 1 uses 16 MiB and ~30 ms per check, the interactive-login level.
_N, _R, _P = 2**14, 8, 1
_KEY_PREFIX = "dk"
_MAX_TOKEN = 512  # ours are ~70 characters; longer ones are refused before any lookup
_MAX_SUBJECT = 320  # the width of login_failures.subject
_TOUCH_EVERY = 60.0  # seconds between writes of a session's last use
# What a user may do is decided by the server's policy (`server/services/permissions.py`);
# the store only keeps the name. `users.admin` mirrors role == "admin" for older readers.
ROLES = ("admin", "user", "readonly", "agent")


@dataclass
class User:
    id: str
    name: str
    admin: bool = False
    created: float = 0.0
    role: str = "user"


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValidationError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    return role


@dataclass
class ApiKey:
    id: str
    user: str  # user name
    name: str = ""
    created: float = 0.0
    revoked: float | None = None


@dataclass
class NewApiKey:
    """What `create_api_key` returns: the only time the secret is ever visible."""

    key: ApiKey
    secret: str

    @property
    def token(self) -> str:
        """The value for `DUCTWORK_API_KEY`."""
        return f"{self.key.id}.{self.secret}"


_USER_COLUMNS = (users.c.id, users.c.name, users.c.admin, users.c.created, users.c.role)
# An API key with its user's columns, for `check_token`.
_KEY_WITH_USER = sa.select(
    api_keys.c.secret_hash,
    api_keys.c.revoked,
    api_keys.c.kind,
    api_keys.c.created.label("key_created"),
    api_keys.c.last_used,
    api_keys.c.expires,
    *_USER_COLUMNS,
).join(users, users.c.id == api_keys.c.user_id)


KEY_KINDS = ("key", "session")


@dataclass
class TokenCheck:
    """What a token proved: its user (None when refused), its key, and why it was refused."""

    user: User | None
    key_id: str
    reason: str  # ok | malformed | unknown | revoked | wrong | expired
    kind: str = ""
    touch: bool = False  # a session whose `last_used` is due to be written


_dummy: list[str] = []


def _dummy_hash() -> str:
    """A hash of a random secret with the same cost as real ones: what an unknown user is checked
    against. Made once per process (a race makes two, which is harmless)."""
    if not _dummy:
        _dummy.append(hash_secret(secrets.token_urlsafe(16)))
    return _dummy[0]


def hash_secret(secret: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def check_secret(secret: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        candidate = hashlib.scrypt(
            secret.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=len(digest) // 2
        )
    except ValueError:
        return False
    return hmac.compare_digest(candidate.hex(), digest)


class Accounts:
    """User and key operations; holds the per-process cache of verified tokens."""

    _CACHE_SIZE = 1024

    def __init__(self) -> None:
        self._verified: OrderedDict[bytes, str] = OrderedDict()
        self._lock = threading.Lock()

    def create_user(
        self,
        conn: sa.Connection,
        name: str,
        *,
        password: str | None = None,
        admin: bool = False,
        role: str | None = None,
    ) -> User:
        """`role` wins over `admin` (kept as the older spelling of role="admin")."""
        if not isinstance(name, str) or not name.strip():
            raise ValidationError(f"user name must be a non-empty string, got {name!r}")
        role = check_role(role or ("admin" if admin else "user"))
        user = User(id=new_id(), name=name.strip(), admin=role == "admin", created=now(), role=role)
        row = {
            "id": user.id,
            "name": user.name,
            "password_hash": hash_secret(password) if password else None,
            "admin": user.admin,
            "created": user.created,
            "role": role,
        }
        try:
            conn.execute(sa.insert(users), row)
        except exc.IntegrityError as error:
            raise Conflict(f"user {user.name!r} already exists") from error
        return user

    def get_user(self, conn: sa.Connection, name: str) -> User:
        row = conn.execute(sa.select(*_USER_COLUMNS).where(users.c.name == name)).first()
        if row is None:
            raise NotFound(f"user {name!r} not found")
        return User(*row)

    def list_users(self, conn: sa.Connection) -> list[User]:
        stmt = sa.select(*_USER_COLUMNS).order_by(users.c.name)
        return [User(*row) for row in conn.execute(stmt)]

    def set_role(self, conn: sa.Connection, name: str, role: str) -> User:
        """Give user `name` role `role`; the `admin` column follows, in the same statement."""
        check_role(role)
        done = conn.execute(
            sa.update(users).where(users.c.name == name).values(role=role, admin=role == "admin")
        )
        if done.rowcount == 0:
            raise NotFound(f"user {name!r} not found")
        return self.get_user(conn, name)

    def verify_password(self, conn: sa.Connection, name: str, password: str) -> User | None:
        """The user if `password` is theirs. An unknown user, or one without a password, costs the
        same scrypt as a wrong password (against a dummy hash), so the answer's timing does not
        tell which user names exist."""
        row = conn.execute(sa.select(users).where(users.c.name == name)).first()
        stored = row.password_hash if row is not None and row.password_hash else _dummy_hash()
        matches = check_secret(password, stored)
        if row is None or not row.password_hash or not matches:
            return None
        return User(row.id, row.name, row.admin, row.created, row.role)

    def set_password(self, conn: sa.Connection, name: str, password: str) -> int:
        """Give user `name` a new password and end all their web sessions (how many ended)."""
        done = conn.execute(
            sa.update(users).where(users.c.name == name).values(password_hash=hash_secret(password))
        )
        if done.rowcount == 0:
            raise NotFound(f"user {name!r} not found")
        return self.end_user_sessions(conn, name)

    def create_api_key(
        self,
        conn: sa.Connection,
        user: str,
        *,
        name: str = "",
        kind: str = "key",
        expires: float | None = None,
    ) -> NewApiKey:
        """A key (kind "key") or a web session (kind "session", with an absolute `expires`)."""
        if kind not in KEY_KINDS:
            raise ValidationError(f"key kind must be one of {', '.join(KEY_KINDS)}, got {kind!r}")
        owner = self.get_user(conn, user)
        key = ApiKey(id=f"{_KEY_PREFIX}{secrets.token_hex(10)}", user=owner.name, name=name, created=now())
        secret = secrets.token_urlsafe(32)
        conn.execute(
            sa.insert(api_keys),
            {
                "id": key.id,
                "secret_hash": hash_secret(secret),
                "user_id": owner.id,
                "name": name,
                "created": key.created,
                "revoked": None,
                "kind": kind,
                "last_used": key.created,
                "expires": expires,
            },
        )
        return NewApiKey(key, secret)

    def verify_api_key(self, conn: sa.Connection, token: str) -> User | None:
        """The key's user, or None for a malformed, unknown, wrong, revoked or expired token."""
        return self.check_token(conn, token).user

    def check_token(
        self,
        conn: sa.Connection,
        token: str,
        *,
        idle: float | None = None,
        max_age: float | None = None,
        before_scrypt: Callable[[], None] | None = None,
    ) -> TokenCheck:
        """What `token` proves, and why not when it proves nothing.

        A session (kind "session") also ends `idle` seconds after its last use and `max_age`
        seconds after its login, whatever its stored `expires` says (settings may have been
        lowered since). `before_scrypt` runs just before a secret is hashed, i.e. only for
        tokens this process has not verified yet: the caller's chance to refuse a guesser
        before paying ~30 ms of CPU for them.
        """
        if not isinstance(token, str):
            return TokenCheck(None, "", "malformed")
        key_id, dot, secret = token.partition(".")
        if not dot or not key_id.startswith(_KEY_PREFIX) or not secret or len(token) > _MAX_TOKEN:
            return TokenCheck(None, "", "malformed")
        row = conn.execute(_KEY_WITH_USER.where(api_keys.c.id == key_id)).first()
        if row is None:
            return TokenCheck(None, key_id, "unknown")
        if row.revoked is not None:
            return TokenCheck(None, key_id, "revoked", kind=row.kind)
        if not self._secret_matches(token, key_id, secret, row.secret_hash, before_scrypt):
            return TokenCheck(None, key_id, "wrong", kind=row.kind)
        touch = False
        if row.kind == "session":
            idle = settings.session_idle() if idle is None else idle
            max_age = settings.session_max() if max_age is None else max_age
            expired, touch = _session_use(row.key_created, row.last_used, row.expires, idle, max_age)
            if expired:
                return TokenCheck(None, key_id, "expired", kind=row.kind)
        user = User(row.id, row.name, row.admin, row.created, row.role)
        return TokenCheck(user, key_id, "ok", kind=row.kind, touch=touch)

    def _secret_matches(
        self,
        token: str,
        key_id: str,
        secret: str,
        secret_hash: str,
        before_scrypt: Callable[[], None] | None,
    ) -> bool:
        """Whether `secret` is the key's; a token verified before is not hashed again."""
        fingerprint = hashlib.sha256(token.encode()).digest()
        with self._lock:
            if self._verified.get(fingerprint) == key_id:
                return True
        if before_scrypt is not None:
            before_scrypt()
        if not check_secret(secret, secret_hash):
            return False
        with self._lock:
            self._verified[fingerprint] = key_id
            while len(self._verified) > self._CACHE_SIZE:
                self._verified.popitem(last=False)
        return True

    def touch_key(self, conn: sa.Connection, key_id: str) -> None:
        """Record that key `key_id` was used now (sessions: the start of a new idle period)."""
        conn.execute(sa.update(api_keys).where(api_keys.c.id == key_id).values(last_used=now()))

    def end_session(self, conn: sa.Connection, token: str) -> bool:
        """End the web session `token` proves: the whole token must verify and name a session.
        A forged, foreign or API-key token ends nothing (False)."""
        checked = self.check_token(conn, token, idle=math.inf, max_age=math.inf)
        if checked.user is None or checked.kind != "session":
            return False
        done = conn.execute(
            sa.update(api_keys)
            .where(
                api_keys.c.id == checked.key_id, api_keys.c.kind == "session", api_keys.c.revoked.is_(None)
            )
            .values(revoked=now())
        )
        return bool(done.rowcount)

    def end_user_sessions(self, conn: sa.Connection, name: str) -> int:
        """End every web session of user `name`; their API keys stay. How many ended."""
        owner = self.get_user(conn, name)
        done = conn.execute(
            sa.update(api_keys)
            .where(api_keys.c.user_id == owner.id, api_keys.c.kind == "session", api_keys.c.revoked.is_(None))
            .values(revoked=now())
        )
        return int(done.rowcount)

    # --- failed logins, shared by every server process ----------------------------------------------

    def login_wait(self, conn: sa.Connection, subjects: Sequence[str]) -> float:
        """Seconds until every one of `subjects` may try again (0: now)."""
        stamp = now()
        latest = conn.execute(
            sa.select(sa.func.max(login_failures.c.blocked_until)).where(
                login_failures.c.subject.in_(list(subjects))
            )
        ).scalar()
        return max(0.0, float(latest or 0.0) - stamp)

    def record_failure(
        self, conn: sa.Connection, subject: str, *, limit: int, backoff: float, longest: float
    ) -> float:
        """Count one failure of `subject`; from the `limit`-th on it waits `backoff`, doubling per
        further failure up to `longest`. Failures are forgotten once the wait is over and the
        first is older than `longest`. Returns the wait now imposed (0: none)."""
        stamp = now()
        subject = subject[:_MAX_SUBJECT]
        conn.execute(
            insert(conn, login_failures).on_conflict_do_nothing(index_elements=["subject"]),
            {"subject": subject, "count": 0, "first": stamp, "blocked_until": 0.0},
        )
        row = conn.execute(
            for_update(conn, sa.select(login_failures).where(login_failures.c.subject == subject))
        ).one()
        count, first = int(row._mapping["count"]), float(row.first)  # `row.count` is a tuple method
        if row.blocked_until <= stamp and stamp - first > longest:
            count, first = 0, stamp  # an old streak, long past its wait: start over
        count += 1
        wait = 0.0
        if count >= limit:
            wait = min(longest, backoff * 2.0 ** min(count - limit, 64))
        conn.execute(
            sa.update(login_failures)
            .where(login_failures.c.subject == subject)
            .values(count=count, first=first, blocked_until=stamp + wait if wait else row.blocked_until)
        )
        if secrets.randbelow(64) == 0:  # now and then, drop streaks nobody continued
            conn.execute(
                sa.delete(login_failures).where(
                    login_failures.c.first < stamp - longest, login_failures.c.blocked_until < stamp
                )
            )
        return wait

    def clear_failures(self, conn: sa.Connection, subjects: Sequence[str]) -> None:
        conn.execute(sa.delete(login_failures).where(login_failures.c.subject.in_(list(subjects))))

    def revoke_api_key(self, conn: sa.Connection, key_id: str) -> None:
        done = conn.execute(
            sa.update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.revoked.is_(None))
            .values(revoked=now())
        )
        if done.rowcount == 0:
            exists = conn.execute(sa.select(api_keys.c.id).where(api_keys.c.id == key_id)).first()
            if exists is None:
                raise NotFound(f"API key {key_id!r} not found")

    def list_api_keys(self, conn: sa.Connection, user: str | None = None) -> list[ApiKey]:
        stmt = (
            sa.select(api_keys.c.id, users.c.name, api_keys.c.name, api_keys.c.created, api_keys.c.revoked)
            .join(users, users.c.id == api_keys.c.user_id)
            .order_by(api_keys.c.created)
        )
        if user is not None:
            stmt = stmt.where(users.c.name == user)
        return [ApiKey(*row) for row in conn.execute(stmt)]


def _session_use(
    created: float, last_used: float | None, expires: float | None, idle: float, max_age: float
) -> tuple[bool, bool]:
    """(expired, touch): whether the session has ended, else whether to record its use now."""
    stamp = now()
    last_used = last_used or created
    ends = min(created + max_age, last_used + idle)
    if expires is not None:
        ends = min(ends, expires)
    if stamp >= ends:
        return True, False
    # `last_used` moves at most once a minute (sooner for short idle limits): a write per
    # request would cost more than the session check itself.
    return False, stamp - last_used >= min(_TOUCH_EVERY, idle / 10)
