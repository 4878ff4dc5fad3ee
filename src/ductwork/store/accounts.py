"""Users and API keys for `ductwork server`. Secrets are stored only as scrypt hashes.

An API key is one token `"<key id>.<secret>"`: the id finds the row with an index, the
secret is checked against its hash with a constant-time compare. scrypt is deliberately
slow (~30 ms), so a verified token is remembered per process by its SHA-256; the row is
still read on every call, so a revoked key is refused at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import exc

from ductwork.core.errors import Conflict, NotFound, ValidationError
from ductwork.core.records import new_id, now
from ductwork.store.tables import api_keys, users

# scrypt cost: 2**14 x 8 x 1 uses 16 MiB and ~30 ms per check, the interactive-login level.
_N, _R, _P = 2**14, 8, 1
_KEY_PREFIX = "dk"
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
        row = conn.execute(sa.select(users).where(users.c.name == name)).first()
        if row is None or not row.password_hash or not check_secret(password, row.password_hash):
            return None
        return User(row.id, row.name, row.admin, row.created, row.role)

    def create_api_key(self, conn: sa.Connection, user: str, *, name: str = "") -> NewApiKey:
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
            },
        )
        return NewApiKey(key, secret)

    def verify_api_key(self, conn: sa.Connection, token: str) -> User | None:
        """The key's user, or None for a malformed, unknown, wrong or revoked token."""
        if not isinstance(token, str):
            return None
        key_id, dot, secret = token.partition(".")
        if not dot or not key_id.startswith(_KEY_PREFIX) or not secret:
            return None
        row = conn.execute(
            sa.select(
                api_keys.c.secret_hash,
                api_keys.c.revoked,
                users.c.id,
                users.c.name,
                users.c.admin,
                users.c.created,
                users.c.role,
            )
            .join(users, users.c.id == api_keys.c.user_id)
            .where(api_keys.c.id == key_id)
        ).first()
        if row is None or row.revoked is not None:
            return None
        fingerprint = hashlib.sha256(token.encode()).digest()
        with self._lock:
            known = self._verified.get(fingerprint) == key_id
        if not known:
            if not check_secret(secret, row.secret_hash):
                return None
            with self._lock:
                self._verified[fingerprint] = key_id
                while len(self._verified) > self._CACHE_SIZE:
                    self._verified.popitem(last=False)
        return User(row.id, row.name, row.admin, row.created, row.role)

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
