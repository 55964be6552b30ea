"""API keys with scopes: ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``.

Every ``/v1`` router depends on :func:`require_api_key`. It finds the scope the route needs
(:func:`required_scope`), the key the request shows (from the settings or the ``api_keys``
table) and answers 401 (no key, or not a valid one) or 403 (a valid key of the wrong scope).

Which scope a route needs, in order:

1. ``openapi_extra={"x-promptloop-scope": "read"}`` on the route (also shown in the spec);
2. :data:`ROUTE_SCOPES`, for the ingest endpoints;
3. otherwise by method: GET and HEAD need ``read``, every other method ``admin``. A new
   write route is therefore admin-only until someone decides otherwise.

With no key configured anywhere (settings or table), the collector is open: fine on
127.0.0.1, not on a network. The first key created turns authentication on.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from fastapi import FastAPI, Request
from starlette.routing import BaseRoute

from promptloop.exceptions import StoreError
from promptloop.server.errors import APIError
from promptloop.server.settings import Settings
from promptloop.store import keys as key_store
from promptloop.store.base import Store
from promptloop.store.keys import Scope

logger = logging.getLogger("promptloop.server")
_T = TypeVar("_T")

SCOPE_EXTRA = "x-promptloop-scope"
# Writes an app makes with an ingest key. Everything else that writes needs admin.
ROUTE_SCOPES: dict[tuple[str, str], Scope] = {
    ("POST", "/v1/interactions"): Scope.INGEST,
    ("POST", "/v1/feedback"): Scope.INGEST,
    ("POST", "/v1/traces"): Scope.INGEST,
}
READ_METHODS = frozenset({"GET", "HEAD"})
# How long a key looked up in the table is trusted before it is looked up again: a key
# revoked by another process (the CLI on the same PostgreSQL) stops working within this.
CACHE_SECONDS = 5.0
CACHE_MAX = 10_000
# ``last_used_at`` is a write; it is refreshed at most this often per key.
TOUCH_SECONDS = 60.0


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: a key's ID and name, or ``open`` when no key is configured."""

    key_id: str
    name: str
    scope: Scope


OPEN = Principal(key_id="open", name="open", scope=Scope.ADMIN)


def presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return request.headers.get("x-api-key") or None


def route_scope(method: str, route: BaseRoute | None) -> Scope:
    """The scope a route needs for ``method`` (see the module docstring)."""
    path = getattr(route, "path", "")
    extra = getattr(route, "openapi_extra", None) or {}
    declared = extra.get(SCOPE_EXTRA)
    if declared is not None:
        return Scope(declared)
    found = ROUTE_SCOPES.get((method.upper(), path))
    if found is not None:
        return found
    return Scope.READ if method.upper() in READ_METHODS else Scope.ADMIN


def required_scope(request: Request) -> Scope:
    return route_scope(request.method, request.scope.get("route"))


def _digest(plaintext: str) -> str:
    return key_store.hash_key(plaintext)


def settings_keys(settings: Settings) -> dict[str, Principal]:
    """Keys from settings/env, by SHA-256: ``api_keys`` are admin; the scoped lists theirs."""
    found: dict[str, Principal] = {}
    scoped: tuple[tuple[Scope, frozenset[str]], ...] = (
        (Scope.INGEST, settings.ingest_api_keys),
        (Scope.READ, settings.read_api_keys),
        (Scope.ADMIN, settings.api_keys),
    )
    for scope, keys in scoped:
        for key in sorted(keys):
            digest = _digest(key)
            found[digest] = Principal(
                f"settings:{digest[:8]}", f"{scope.value} key from settings", scope
            )
    return found


class AccessControl:
    """The keys of one collector: from settings (fixed) and from the store (cached briefly)."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self._fixed = settings_keys(settings)
        self._store = store
        self._lock = threading.Lock()
        self._stored: dict[str, tuple[float, key_store.ApiKey | None]] = {}
        self._any_stored: tuple[float, bool] | None = None
        self._touched: dict[str, float] = {}

    def invalidate(self) -> None:
        """Forget cached lookups (after this process created, revoked or rotated a key)."""
        with self._lock:
            self._stored.clear()
            self._any_stored = None

    def enabled(self) -> bool:
        return bool(self._fixed) or self._stored_keys_exist()

    def _stored_keys_exist(self) -> bool:
        now = time.monotonic()
        cached = self._any_stored
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        exists = _guarded(lambda: key_store.any_active(self._store))
        self._any_stored = (now, exists)
        return exists

    def identify(self, plaintext: str) -> Principal | None:
        """The principal a presented key stands for, or None if it is not valid now."""
        digest = _digest(plaintext)
        fixed = self._fixed_match(digest)
        if fixed is not None:
            return fixed
        stored = self._stored_key(digest, plaintext)
        if stored is None or not stored.active(datetime.now(UTC)):
            return None
        self._touch(stored.key_id)
        return Principal(stored.key_id, stored.name, stored.scope)

    def _fixed_match(self, digest: str) -> Principal | None:
        # Compare with every configured key in constant time: timing reveals nothing.
        match: Principal | None = None
        for candidate, principal in self._fixed.items():
            if hmac.compare_digest(candidate, digest):
                match = principal
        return match

    def _stored_key(self, digest: str, plaintext: str) -> key_store.ApiKey | None:
        now = time.monotonic()
        cached = self._stored.get(digest)
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        found = _guarded(lambda: key_store.lookup(self._store, plaintext))
        with self._lock:
            if len(self._stored) >= CACHE_MAX:
                self._stored.clear()
            self._stored[digest] = (now, found)
        return found

    def _touch(self, key_id: str) -> None:
        now = time.monotonic()
        last = self._touched.get(key_id)
        if last is not None and now - last < TOUCH_SECONDS:
            return
        self._touched[key_id] = now
        try:
            key_store.touch(self._store, key_id)
        except StoreError as exc:  # a missed last-used stamp must not fail the request
            logger.warning("could not record the use of key %s: %s", key_id, exc)


def _guarded(read: Callable[[], _T]) -> _T:
    """Run a key-table read; a store failure is a 503, never an open door."""
    try:
        return read()
    except StoreError as exc:
        logger.error("the api_keys table could not be read: %s", exc)
        raise APIError(503, "unavailable", "the key store cannot be read; retry shortly") from exc


_access_lock = threading.Lock()


def access_of(app: FastAPI) -> AccessControl:
    """The app's access control, built on first use (the store opens in the lifespan)."""
    found: AccessControl | None = getattr(app.state, "access", None)
    if found is None:
        with _access_lock:
            found = getattr(app.state, "access", None)
            if found is None:
                found = AccessControl(app.state.settings, app.state.store)
                app.state.access = found
    return found


def authenticate(request: Request, needed: Scope) -> Principal:
    """The request's principal if it may act with ``needed``; else a 401 or 403."""
    access = access_of(request.app)
    if not access.enabled():
        return OPEN
    plaintext = presented_key(request)
    if plaintext is None:
        raise APIError(
            401,
            "unauthorized",
            "a valid API key is required: send 'Authorization: Bearer <key>'",
        )
    principal = access.identify(plaintext)
    if principal is None:
        raise APIError(
            401, "unauthorized", "the API key is not valid (unknown, revoked or expired)"
        )
    if not principal.scope.allows(needed):
        raise APIError(
            403,
            "forbidden",
            f"this needs a key with the {needed.value!r} scope (or admin); "
            f"the key shown has {principal.scope.value!r}",
            required_scope=needed.value,
        )
    return principal


def require_api_key(request: Request) -> Principal:
    """A FastAPI dependency: the key shown must have the scope the route needs."""
    principal = authenticate(request, required_scope(request))
    request.state.principal = principal
    return principal
