"""API keys with scopes, kept in the ``api_keys`` table (migration 9).

A key is 32 random bytes, shown once when it is created. The store keeps its SHA-256 and a
short prefix (to recognise it in listings), never the key. SHA-256 rather than a slow KDF
(scrypt, argon2) on purpose: a slow hash protects guessable passwords, while a key has 256
bits of entropy, and a fast hash lets every request find its key by one indexed lookup.

Scopes (docs/security.md): ``ingest`` writes interactions, feedback and traces; ``read``
reads everything; ``admin`` does everything, including key management.

Rotation without downtime: :func:`rotate` creates a successor with the same name and scope
and lets the old key expire after a grace period, so both work while apps are redeployed.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from promptloop.exceptions import ConflictError, NotFoundError
from promptloop.store.base import Store

TABLE = "api_keys"
KEY_PREFIX = "pl_"
PREFIX_CHARS = 10
DEFAULT_GRACE = timedelta(hours=24)
MAX_NAME_CHARS = 100
_COLUMNS = "key_id, name, scope, prefix, created_at, expires_at, revoked_at, last_used_at"


class Scope(StrEnum):
    INGEST = "ingest"
    READ = "read"
    ADMIN = "admin"

    def allows(self, required: Scope) -> bool:
        """Admin may do anything; the other scopes only their own."""
        return self is Scope.ADMIN or self is required


def parse_scope(value: str) -> Scope:
    try:
        return Scope(value.strip().lower())
    except ValueError:
        allowed = ", ".join(s.value for s in Scope)
        raise ValueError(f"scope: {value!r} is not one of {allowed}") from None


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    """A stored key (never its plaintext)."""

    key_id: str
    name: str
    scope: Scope
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def active(self, now: datetime) -> bool:
        if self.revoked_at is not None and self.revoked_at <= now:
            return False
        return self.expires_at is None or self.expires_at > now

    def as_dict(self, now: datetime | None = None) -> dict[str, Any]:
        moment = now or datetime.now(UTC)
        return {
            "key_id": self.key_id,
            "name": self.name,
            "scope": self.scope.value,
            "prefix": self.prefix,
            "created_at": _iso(self.created_at),
            "expires_at": _iso(self.expires_at),
            "revoked_at": _iso(self.revoked_at),
            "last_used_at": _iso(self.last_used_at),
            "active": self.active(moment),
        }


@dataclass(frozen=True)
class CreatedKey:
    """A new key and, this once, its plaintext."""

    key: ApiKey
    plaintext: str

    def as_dict(self) -> dict[str, Any]:
        return {**self.key.as_dict(), "api_key": self.plaintext}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else _utc(value).isoformat()


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _row_to_key(row: dict[str, Any]) -> ApiKey:
    def moment(name: str) -> datetime | None:
        value = row.get(name)
        return None if value is None else _utc(value)

    created = moment("created_at")
    assert created is not None  # NOT NULL in the schema
    return ApiKey(
        key_id=str(row["key_id"]),
        name=str(row["name"]),
        scope=Scope(row["scope"]),
        prefix=str(row["prefix"]),
        created_at=created,
        expires_at=moment("expires_at"),
        revoked_at=moment("revoked_at"),
        last_used_at=moment("last_used_at"),
    )


def _check_name(name: str) -> str:
    cleaned = name.strip()
    if not cleaned or len(cleaned) > MAX_NAME_CHARS or not cleaned.isprintable():
        raise ValueError(f"name: give 1 to {MAX_NAME_CHARS} printable characters")
    return cleaned


def create_key(
    store: Store,
    name: str,
    scope: Scope | str,
    *,
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> CreatedKey:
    """Store a new key and return it with its plaintext (which is not kept)."""
    moment = now or datetime.now(UTC)
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        key_id="key_" + uuid.uuid4().hex[:16],
        name=_check_name(name),
        scope=scope if isinstance(scope, Scope) else parse_scope(scope),
        prefix=plaintext[:PREFIX_CHARS],
        created_at=moment,
        expires_at=None if expires_at is None else _utc(expires_at),
        revoked_at=None,
        last_used_at=None,
    )
    if key.expires_at is not None and key.expires_at <= moment:
        raise ValueError("expires_at: must be in the future")
    store.execute(
        f"INSERT INTO {TABLE} (key_id, name, scope, key_hash, prefix, created_at, expires_at)"
        " VALUES (:key_id, :name, :scope, :key_hash, :prefix, :created_at, :expires_at)",
        {
            "key_id": key.key_id,
            "name": key.name,
            "scope": key.scope.value,
            "key_hash": hash_key(plaintext),
            "prefix": key.prefix,
            "created_at": key.created_at,
            "expires_at": key.expires_at,
        },
    )
    return CreatedKey(key, plaintext)


def list_keys(store: Store, *, include_inactive: bool = True) -> list[ApiKey]:
    rows = store.fetch_all(f"SELECT {_COLUMNS} FROM {TABLE} ORDER BY created_at, key_id")
    keys = [_row_to_key(row) for row in rows]
    if include_inactive:
        return keys
    now = datetime.now(UTC)
    return [key for key in keys if key.active(now)]


def find_key(store: Store, key_id_or_name: str) -> ApiKey:
    """One key by ID, or by name when exactly one active key carries it."""
    wanted = key_id_or_name.strip()
    keys = list_keys(store)
    for key in keys:
        if key.key_id == wanted:
            return key
    now = datetime.now(UTC)
    named = [key for key in keys if key.name == wanted and key.active(now)]
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        ids = ", ".join(key.key_id for key in named)
        raise ConflictError(f"{len(named)} active keys are named {wanted!r}: give an ID ({ids})")
    raise NotFoundError(f"no API key has the ID or active name {wanted!r}")


def lookup(store: Store, plaintext: str) -> ApiKey | None:
    """The stored key a presented plaintext belongs to (active or not), if any."""
    rows = store.fetch_all(
        f"SELECT {_COLUMNS} FROM {TABLE} WHERE key_hash = :key_hash",
        {"key_hash": hash_key(plaintext)},
    )
    return _row_to_key(rows[0]) if rows else None


def any_active(store: Store, now: datetime | None = None) -> bool:
    """Whether any stored key is usable now (then the collector requires a key)."""
    moment = now or datetime.now(UTC)
    rows = store.fetch_all(
        f"SELECT count(*) AS n FROM {TABLE} WHERE (revoked_at IS NULL OR revoked_at > :now)"
        " AND (expires_at IS NULL OR expires_at > :now)",
        {"now": moment},
    )
    return bool(rows and int(rows[0]["n"]) > 0)


def revoke(store: Store, key_id_or_name: str, *, now: datetime | None = None) -> ApiKey:
    """Revoke a key now; revoking a revoked key changes nothing."""
    key = find_key(store, key_id_or_name)
    if key.revoked_at is not None:
        return key
    moment = now or datetime.now(UTC)
    store.execute(
        f"UPDATE {TABLE} SET revoked_at = :now WHERE key_id = :key_id",
        {"now": moment, "key_id": key.key_id},
    )
    return find_key(store, key.key_id)


def rotate(
    store: Store,
    key_id_or_name: str,
    *,
    grace: timedelta = DEFAULT_GRACE,
    now: datetime | None = None,
) -> tuple[CreatedKey, ApiKey]:
    """A successor key (same name and scope); the old one expires after ``grace``.

    Both keys work during the grace period, so apps can switch without a failed request.
    A zero grace revokes the old key at once.
    """
    if grace < timedelta(0):
        raise ValueError("grace: must not be negative")
    old = find_key(store, key_id_or_name)
    moment = now or datetime.now(UTC)
    if not old.active(moment):
        raise ConflictError(f"key {old.key_id} is revoked or expired: create a new key instead")
    created = create_key(store, old.name, old.scope, now=moment)
    ends = moment + grace
    if old.expires_at is None or old.expires_at > ends:
        store.execute(
            f"UPDATE {TABLE} SET expires_at = :ends WHERE key_id = :key_id",
            {"ends": ends, "key_id": old.key_id},
        )
    return created, find_key(store, old.key_id)


def touch(store: Store, key_id: str, now: datetime | None = None) -> None:
    """Record a use (callers rate-limit this: it is a write)."""
    store.execute(
        f"UPDATE {TABLE} SET last_used_at = :now WHERE key_id = :key_id",
        {"now": now or datetime.now(UTC), "key_id": key_id},
    )
