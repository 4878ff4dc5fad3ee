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
from typing import Any

from ductwork.core import settings
from ductwork.core.errors import Conflict, NotFound, ValidationError
from ductwork.core.records import new_id, now
from ductwork.store.sql import Conn, IntegrityError, in_list

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


_USERS = "SELECT users.id, users.name, users.admin, users.created, users.role FROM users"
# An API key with its user's columns, for `check_token`.
_KEY_WITH_USER = (
    "SELECT api_keys.secret_hash, api_keys.revoked, api_keys.kind, api_keys.created, api_keys.last_used, "
    "api_keys.expires, users.id, users.name, users.admin, users.created, users.role "
    "FROM api_keys JOIN users ON users.id = api_keys.user_id WHERE api_keys.id = :id"
)


def _user(row: Sequence[Any]) -> User:
    id_, name, admin, created, role = row
    return User(id_, name, bool(admin), created, role)


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
        conn: Conn,
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
            conn.count(
                "INSERT INTO users (id, name, password_hash, admin, created, role) "
                "VALUES (:id, :name, :password_hash, :admin, :created, :role)",
                row,
            )
        except IntegrityError as error:
            raise Conflict(f"user {user.name!r} already exists") from error
        return user

    def get_user(self, conn: Conn, name: str) -> User:
        row = conn.first(f"{_USERS} WHERE name = :name", {"name": name})
        if row is None:
            raise NotFound(f"user {name!r} not found")
        return _user(row)

    def list_users(self, conn: Conn) -> list[User]:
        return [_user(row) for row in conn.rows(f"{_USERS} ORDER BY name")]

    def set_role(self, conn: Conn, name: str, role: str) -> User:
        """Give user `name` role `role`; the `admin` column follows, in the same statement."""
        check_role(role)
        done = conn.count(
            "UPDATE users SET role = :role, admin = :admin WHERE name = :name",
            {"role": role, "admin": role == "admin", "name": name},
        )
        if done == 0:
            raise NotFound(f"user {name!r} not found")
        return self.get_user(conn, name)

    def verify_password(self, conn: Conn, name: str, password: str) -> User | None:
        """The user if `password` is theirs. An unknown user, or one without a password, costs the
        same scrypt as a wrong password (against a dummy hash), so the answer's timing does not
        tell which user names exist."""
        row = conn.first(
            "SELECT id, name, admin, created, role, password_hash FROM users WHERE name = :name",
            {"name": name},
        )
        password_hash = row[5] if row is not None else None
        stored = password_hash or _dummy_hash()
        matches = check_secret(password, stored)
        if row is None or not password_hash or not matches:
            return None
        return _user(row[:5])

    def set_password(self, conn: Conn, name: str, password: str) -> int:
        """Give user `name` a new password and end all their web sessions (how many ended)."""
        done = conn.count(
            "UPDATE users SET password_hash = :hash WHERE name = :name",
            {"hash": hash_secret(password), "name": name},
        )
        if done == 0:
            raise NotFound(f"user {name!r} not found")
        return self.end_user_sessions(conn, name)

    def create_api_key(
        self,
        conn: Conn,
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
        conn.count(
            "INSERT INTO api_keys (id, secret_hash, user_id, name, created, revoked, kind, last_used, "
            "expires) VALUES (:id, :secret_hash, :user_id, :name, :created, :revoked, :kind, "
            ":last_used, :expires)",
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

    def verify_api_key(self, conn: Conn, token: str) -> User | None:
        """The key's user, or None for a malformed, unknown, wrong, revoked or expired token."""
        return self.check_token(conn, token).user

    def check_token(
        self,
        conn: Conn,
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
        row = conn.first(_KEY_WITH_USER, {"id": key_id})
        if row is None:
            return TokenCheck(None, key_id, "unknown")
        secret_hash, revoked, kind, key_created, last_used, expires = row[:6]
        if revoked is not None:
            return TokenCheck(None, key_id, "revoked", kind=kind)
        if not self._secret_matches(token, key_id, secret, secret_hash, before_scrypt):
            return TokenCheck(None, key_id, "wrong", kind=kind)
        touch = False
        if kind == "session":
            idle = settings.session_idle() if idle is None else idle
            max_age = settings.session_max() if max_age is None else max_age
            expired, touch = _session_use(key_created, last_used, expires, idle, max_age)
            if expired:
                return TokenCheck(None, key_id, "expired", kind=kind)
        return TokenCheck(_user(row[6:]), key_id, "ok", kind=kind, touch=touch)

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

    def touch_key(self, conn: Conn, key_id: str) -> None:
        """Record that key `key_id` was used now (sessions: the start of a new idle period)."""
        conn.count("UPDATE api_keys SET last_used = :now WHERE id = :id", {"now": now(), "id": key_id})

    def end_session(self, conn: Conn, token: str) -> bool:
        """End the web session `token` proves: the whole token must verify and name a session.
        A forged, foreign or API-key token ends nothing (False)."""
        checked = self.check_token(conn, token, idle=math.inf, max_age=math.inf)
        if checked.user is None or checked.kind != "session":
            return False
        done = conn.count(
            "UPDATE api_keys SET revoked = :now WHERE id = :id AND kind = 'session' AND revoked IS NULL",
            {"now": now(), "id": checked.key_id},
        )
        return bool(done)

    def end_user_sessions(self, conn: Conn, name: str) -> int:
        """End every web session of user `name`; their API keys stay. How many ended."""
        owner = self.get_user(conn, name)
        return conn.count(
            "UPDATE api_keys SET revoked = :now WHERE user_id = :user_id AND kind = 'session' "
            "AND revoked IS NULL",
            {"now": now(), "user_id": owner.id},
        )

    # --- failed logins, shared by every server process ----------------------------------------------

    def login_wait(self, conn: Conn, subjects: Sequence[str]) -> float:
        """Seconds until every one of `subjects` may try again (0: now)."""
        stamp = now()
        params: dict[str, object] = {}
        among = in_list("subject", subjects, params)
        latest = conn.scalar(
            f"SELECT MAX(blocked_until) FROM login_failures WHERE subject IN {among}", params
        )
        return max(0.0, float(latest or 0.0) - stamp)

    def record_failure(
        self, conn: Conn, subject: str, *, limit: int, backoff: float, longest: float
    ) -> float:
        """Count one failure of `subject`; from the `limit`-th on it waits `backoff`, doubling per
        further failure up to `longest`. Failures are forgotten once the wait is over and the
        first is older than `longest`. Returns the wait now imposed (0: none)."""
        stamp = now()
        subject = subject[:_MAX_SUBJECT]
        conn.count(
            'INSERT INTO login_failures (subject, "count", "first", blocked_until) '
            "VALUES (:subject, 0, :stamp, 0.0) ON CONFLICT (subject) DO NOTHING",
            {"subject": subject, "stamp": stamp},
        )
        row = conn.first(
            conn.for_update(
                'SELECT "count", "first", blocked_until FROM login_failures WHERE subject = :subject'
            ),
            {"subject": subject},
        )
        assert row is not None  # inserted above
        count, first, blocked_until = int(row[0]), float(row[1]), float(row[2])
        if blocked_until <= stamp and stamp - first > longest:
            count, first = 0, stamp  # an old streak, long past its wait: start over
        count += 1
        wait = 0.0
        if count >= limit:
            wait = min(longest, backoff * 2.0 ** min(count - limit, 64))
        conn.count(
            'UPDATE login_failures SET "count" = :count, "first" = :first, blocked_until = :until '
            "WHERE subject = :subject",
            {
                "count": count,
                "first": first,
                "until": stamp + wait if wait else blocked_until,
                "subject": subject,
            },
        )
        if secrets.randbelow(64) == 0:  # now and then, drop streaks nobody continued
            conn.count(
                'DELETE FROM login_failures WHERE "first" < :oldest AND blocked_until < :stamp',
                {"oldest": stamp - longest, "stamp": stamp},
            )
        return wait

    def clear_failures(self, conn: Conn, subjects: Sequence[str]) -> None:
        params: dict[str, object] = {}
        among = in_list("subject", subjects, params)
        conn.count(f"DELETE FROM login_failures WHERE subject IN {among}", params)

    def revoke_api_key(self, conn: Conn, key_id: str) -> None:
        done = conn.count(
            "UPDATE api_keys SET revoked = :now WHERE id = :id AND revoked IS NULL",
            {"now": now(), "id": key_id},
        )
        if done == 0:
            exists = conn.first("SELECT id FROM api_keys WHERE id = :id", {"id": key_id})
            if exists is None:
                raise NotFound(f"API key {key_id!r} not found")

    def list_api_keys(self, conn: Conn, user: str | None = None) -> list[ApiKey]:
        text = (
            "SELECT api_keys.id, users.name, api_keys.name, api_keys.created, api_keys.revoked "
            "FROM api_keys JOIN users ON users.id = api_keys.user_id"
        )
        if user is not None:
            text += " WHERE users.name = :user"
        return [ApiKey(*row) for row in conn.rows(text + " ORDER BY api_keys.created", {"user": user})]


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
