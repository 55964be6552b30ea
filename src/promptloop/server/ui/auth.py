"""Dashboard sessions: a signed cookie, a login form, and a CSRF token per session.

No secret reaches the browser. The cookie holds a random session ID, whether the session
is logged in, and an expiry, signed with HMAC-SHA256 under the dashboard secret (the
configured ``dashboard_secret``, or one generated once into ``<data_dir>/dashboard_secret``).
It never holds the password or an API key. It is ``HttpOnly`` and ``SameSite=Strict``.

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
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request

from promptloop.server.settings import Settings

COOKIE = "promptloop_session"
SECRET_FILE = "dashboard_secret"


@dataclass(frozen=True)
class Session:
    sid: str
    authenticated: bool
    expires: int

    def csrf_token(self, secret: bytes) -> str:
        mac = hmac.new(secret, f"csrf:{self.sid}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def auth_required(settings: Settings) -> bool:
    return bool(settings.api_keys or settings.dashboard_password)


def check_password(settings: Settings, presented: str) -> bool:
    """The dashboard password or any API key, compared in constant time against each."""
    candidates = [*sorted(settings.api_keys)]
    if settings.dashboard_password:
        candidates.append(settings.dashboard_password)
    ok = False
    for candidate in candidates:
        ok |= hmac.compare_digest(presented.encode(), candidate.encode())
    return ok and bool(presented)


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
            {"sid": session.sid, "auth": session.authenticated, "exp": session.expires},
            separators=(",", ":"),
        ).encode()
    )
    mac = _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{mac}"


def decode(value: str, secret: bytes, *, now: float | None = None) -> Session | None:
    """The session a cookie value carries, or None if it is forged, malformed or expired."""
    try:
        payload, mac = value.split(".", 1)
        expected = _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(mac, expected):
            return None
        data = json.loads(_unb64(payload))
        session = Session(
            sid=str(data["sid"]), authenticated=bool(data["auth"]), expires=int(data["exp"])
        )
    except (ValueError, KeyError, TypeError):
        return None
    if session.expires < (now if now is not None else time.time()):
        return None
    return session


def new_session(settings: Settings, *, authenticated: bool) -> Session:
    hours = settings.dashboard_session_hours
    return Session(
        sid=secrets.token_urlsafe(18),
        authenticated=authenticated,
        expires=int(time.time() + hours * 3600),
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
    secret = secret_of(request)
    raw = request.cookies.get(COOKIE)
    return decode(raw, secret) if raw else None


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
        "samesite": "strict",
        "secure": request.url.scheme == "https",
        "path": "/",
    }
