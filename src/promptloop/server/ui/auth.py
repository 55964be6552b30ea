"""Dashboard sessions: a signed cookie, a login form, and a CSRF token per session.

No secret reaches the browser. The cookie holds a random session ID, whether the session
is logged in and with which scope, its absolute expiry and its last activity, signed with
HMAC-SHA256 under the dashboard secret (the configured ``dashboard_secret``, or one
generated once into ``<data_dir>/dashboard_secret``). It never holds the password or an API
key. It is ``HttpOnly`` and ``SameSite=Lax`` (a link from an alert e-mail or chat message
opens the dashboard logged in; cross-site POSTs still carry no cookie, and every POST
checks the CSRF token below).

A session ends at the first of: its absolute expiry (``dashboard_session_hours`` after
login), ``dashboard_idle_minutes`` without a request (pages refresh the activity stamp at
most once a minute), or logout (the session ID is refused from then on by this process).

Who may log in: the dashboard password (an admin session), or an admin or read API key
(from settings or ``promptloop keys``), whose scope the session takes. Ingest keys live in
apps and never open the dashboard. A read session sees everything and changes nothing.

Every session, logged in or anonymous (when no auth is configured), has a CSRF token
derived from its ID: ``HMAC(secret, "csrf:" + sid)``. Each dashboard form carries it, and
every dashboard POST checks it, on top of SameSite=Strict.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass, replace
from pathlib import Path

from fastapi import Request

from promptloop.server.auth import access_of
from promptloop.server.errors import APIError
from promptloop.server.settings import Settings
from promptloop.store.keys import Scope

COOKIE = "promptloop_session"
SECRET_FILE = "dashboard_secret"


# The activity stamp is rewritten at most this often (it costs a Set-Cookie).
ACTIVITY_REFRESH_SECONDS = 60
DEFAULT_IDLE_MINUTES = 30.0
_REVOKED_MAX = 100_000


@dataclass(frozen=True)
class Session:
    sid: str
    authenticated: bool
    expires: int
    seen: int = 0
    scope: str = Scope.ADMIN.value

    @property
    def may_write(self) -> bool:
        return self.scope == Scope.ADMIN.value

    def csrf_token(self, secret: bytes) -> str:
        mac = hmac.new(secret, f"csrf:{self.sid}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def auth_required(settings: Settings) -> bool:
    """Whether the settings alone call for a login (keys in the store also do)."""
    return bool(
        settings.api_keys
        or settings.read_api_keys
        or settings.ingest_api_keys
        or settings.dashboard_password
    )


def login_required(request: Request) -> bool:
    """A login is needed when settings configure one or any API key exists."""
    return bool(request.app.state.dashboard_auth) or access_of(request.app).enabled()


def check_password(settings: Settings, presented: str) -> bool:
    """The dashboard password, compared in constant time."""
    expected = settings.dashboard_password
    if not expected or not presented:
        return False
    return hmac.compare_digest(presented.encode(), expected.encode())


def login_scope(request: Request, presented: str) -> Scope | None:
    """The scope a login with ``presented`` gets: None if it may not log in."""
    if not presented:
        return None
    if check_password(request.app.state.settings, presented):
        return Scope.ADMIN
    principal = access_of(request.app).identify(presented)
    if principal is None or principal.scope is Scope.INGEST:
        return None
    return principal.scope


def idle_seconds(settings: Settings) -> float:
    return 60 * settings.dashboard_idle_minutes


def load_secret(settings: Settings) -> bytes:
    """The key that signs session cookies: configured, or generated once and kept on disk."""
    if settings.dashboard_secret:
        return hashlib.sha256(f"dashboard:{settings.dashboard_secret}".encode()).digest()
    path = settings.data_dir / SECRET_FILE
    if not path.exists():
        _write_new_secret(path)
    return hashlib.sha256(f"dashboard:{path.read_text().strip()}".encode()).digest()


def _write_new_secret(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.parent / f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    temp.write_text(secrets.token_urlsafe(32))
    temp.chmod(0o600)
    try:
        # A link fails if another process created the file first: theirs wins, for everyone.
        os.link(temp, path)
    except FileExistsError:
        pass
    finally:
        temp.unlink(missing_ok=True)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(session: Session, secret: bytes) -> str:
    payload = _b64(
        json.dumps(
            {
                "sid": session.sid,
                "auth": session.authenticated,
                "exp": session.expires,
                "seen": session.seen,
                "scope": session.scope,
            },
            separators=(",", ":"),
        ).encode()
    )
    mac = _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{mac}"


def decode(
    value: str,
    secret: bytes,
    *,
    now: float | None = None,
    idle_seconds: float = DEFAULT_IDLE_MINUTES * 60,
) -> Session | None:
    """The session a cookie carries, or None if forged, malformed, expired or idle too long."""
    try:
        payload, mac = value.split(".", 1)
        expected = _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(mac, expected):
            return None
        data = json.loads(_unb64(payload))
        session = Session(
            sid=str(data["sid"]),
            authenticated=bool(data["auth"]),
            expires=int(data["exp"]),
            seen=int(data["seen"]),
            scope=Scope(data["scope"]).value,
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    moment = now if now is not None else time.time()
    if session.expires < moment or moment - session.seen > idle_seconds:
        return None
    return session


def new_session(settings: Settings, *, authenticated: bool, scope: Scope = Scope.ADMIN) -> Session:
    hours = settings.dashboard_session_hours
    now = time.time()
    return Session(
        sid=secrets.token_urlsafe(18),
        authenticated=authenticated,
        expires=int(now + hours * 3600),
        seen=int(now),
        scope=scope.value,
    )


def secret_of(request: Request) -> bytes:
    """The signing key, loaded (or generated) on first use and kept on the app."""
    state = request.app.state
    cached: bytes | None = getattr(state, "dashboard_secret", None)
    if cached is None:
        cached = load_secret(state.settings)
        state.dashboard_secret = cached
    return cached


def session_of(request: Request) -> Session | None:
    """The request's live session; its activity stamp is refreshed when it is a minute old."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    state = request.app.state
    session = decode(raw, secret_of(request), idle_seconds=idle_seconds(state.settings))
    if session is None or session.sid in _revoked(request):
        return None
    now = int(time.time())
    if now - session.seen >= ACTIVITY_REFRESH_SECONDS:
        session = replace(session, seen=now)
        request.state.new_session = session
    return session


def _revoked(request: Request) -> dict[str, int]:
    found: dict[str, int] | None = getattr(request.app.state, "revoked_sessions", None)
    if found is None:
        found = {}
        request.app.state.revoked_sessions = found
    return found


def revoke_session(request: Request, session: Session | None) -> None:
    """Logout: this session ID is refused until its expiry (by this collector process)."""
    if session is None:
        return
    revoked = _revoked(request)
    now = int(time.time())
    if len(revoked) >= _REVOKED_MAX:
        for sid, expires in list(revoked.items()):
            if expires < now:
                del revoked[sid]
    revoked[session.sid] = session.expires


def require_write(request: Request, session: Session) -> None:
    """Dashboard changes (saved views, triage, acknowledgements) need an admin session."""
    if request.method not in ("GET", "HEAD") and not session.may_write:
        raise APIError(
            403, "forbidden", "this login is read-only: log in with an admin key to change things"
        )


def csrf_ok(request: Request, session: Session | None, presented: str | None) -> bool:
    if session is None or not presented:
        return False
    return hmac.compare_digest(session.csrf_token(secret_of(request)), presented)


def cookie_kwargs(request: Request, session: Session) -> dict[str, object]:
    return {
        "key": COOKIE,
        "value": encode(session, secret_of(request)),
        "max_age": max(0, session.expires - int(time.time())),
        "httponly": True,
        "samesite": "lax",
        "secure": request.url.scheme == "https",
        "path": "/",
    }
