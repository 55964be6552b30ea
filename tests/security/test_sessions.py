"""Dashboard sessions: signed, HttpOnly, SameSite=Lax, idle and absolute timeouts, logout."""

from __future__ import annotations

import time
from dataclasses import replace

from fastapi.testclient import TestClient

from promptloop.server.ui.auth import (
    ACTIVITY_REFRESH_SECONDS,
    COOKIE,
    Session,
    decode,
    encode,
)
from promptloop.store.keys import Scope
from tests.security.conftest import DASHBOARD_PASSWORD, SETTINGS_ADMIN_KEY, Keyed

SECRET = b"s" * 32


def _session(**changes: object) -> Session:
    now = int(time.time())
    base = Session(sid="abc", authenticated=True, expires=now + 3600, seen=now, scope="admin")
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_cookie_round_trips_and_a_forged_one_is_refused() -> None:
    session = _session()
    value = encode(session, SECRET)
    assert decode(value, SECRET) == session
    payload, mac = value.split(".")
    assert decode(f"{payload}.{mac[:-2]}AA", SECRET) is None
    assert decode(value, b"x" * 32) is None
    assert decode("garbage", SECRET) is None and decode("a.b.c", SECRET) is None


def test_a_tampered_scope_is_refused() -> None:
    reader = encode(_session(scope="read"), SECRET)
    mac = reader.split(".")[1]
    admin_payload = encode(_session(scope="admin"), SECRET).split(".")[0]
    assert decode(f"{admin_payload}.{mac}", SECRET) is None


def test_absolute_and_idle_timeouts() -> None:
    now = time.time()
    session = _session(expires=int(now) + 100, seen=int(now))
    value = encode(session, SECRET)
    assert decode(value, SECRET, now=now + 50, idle_seconds=60) is not None
    assert decode(value, SECRET, now=now + 61, idle_seconds=60) is None  # idle
    assert decode(value, SECRET, now=now + 101, idle_seconds=1000) is None  # absolute


def _login(keyed: Keyed, secret: str) -> tuple[TestClient, int]:
    client = TestClient(keyed.client.app)
    client.get("/login")
    app_secret = keyed.client.app.state.dashboard_secret  # type: ignore[attr-defined]
    anonymous = decode(client.cookies[COOKIE], app_secret)
    assert anonymous is not None
    response = client.post(
        "/login",
        data={"password": secret, "next": "/", "csrf_token": anonymous.csrf_token(app_secret)},
        follow_redirects=False,
    )
    return client, response.status_code


def test_login_sets_a_safe_cookie_without_secrets(keyed: Keyed) -> None:
    response = TestClient(keyed.client.app)
    response.get("/login")
    app_secret = keyed.client.app.state.dashboard_secret  # type: ignore[attr-defined]
    anonymous = decode(response.cookies[COOKIE], app_secret)
    assert anonymous is not None
    login = response.post(
        "/login",
        data={
            "password": keyed.keys[Scope.READ],
            "next": "/",
            "csrf_token": anonymous.csrf_token(app_secret),
        },
        follow_redirects=False,
    )
    cookie = login.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "max-age=" in cookie
    raw = login.cookies[COOKIE]
    for secret in (DASHBOARD_PASSWORD, keyed.keys[Scope.READ], SETTINGS_ADMIN_KEY):
        assert secret not in raw
    session = decode(raw, app_secret)
    assert session is not None and session.authenticated and session.scope == "read"
    page = response.get("/")
    assert page.status_code == 200
    for secret in (DASHBOARD_PASSWORD, keyed.keys[Scope.READ], SETTINGS_ADMIN_KEY):
        assert secret not in page.text


def test_logout_ends_the_session_even_if_the_cookie_is_replayed(keyed: Keyed) -> None:
    client, status = _login(keyed, DASHBOARD_PASSWORD)
    assert status == 303
    stolen = client.cookies[COOKIE]
    assert client.get("/", follow_redirects=False).status_code == 200
    app_secret = keyed.client.app.state.dashboard_secret  # type: ignore[attr-defined]
    session = decode(stolen, app_secret)
    assert session is not None
    out = client.post(
        "/logout", data={"csrf_token": session.csrf_token(app_secret)}, follow_redirects=False
    )
    assert out.status_code == 303
    replay = TestClient(keyed.client.app)
    replay.cookies.set(COOKIE, stolen)
    assert replay.get("/", follow_redirects=False).status_code == 303


def test_an_idle_session_is_sent_to_the_login(keyed: Keyed) -> None:
    client, _ = _login(keyed, DASHBOARD_PASSWORD)
    app_secret = keyed.client.app.state.dashboard_secret  # type: ignore[attr-defined]
    session = decode(client.cookies[COOKIE], app_secret)
    assert session is not None
    idle_minutes = keyed.client.app.state.settings.dashboard_idle_minutes  # type: ignore[attr-defined]
    stale = replace(session, seen=session.seen - int(idle_minutes * 60) - 1)
    client.cookies.clear()
    client.cookies.set(COOKIE, encode(stale, app_secret))
    assert client.get("/", follow_redirects=False).status_code == 303


def test_activity_refreshes_the_cookie(keyed: Keyed) -> None:
    client, _ = _login(keyed, DASHBOARD_PASSWORD)
    app_secret = keyed.client.app.state.dashboard_secret  # type: ignore[attr-defined]
    session = decode(client.cookies[COOKIE], app_secret)
    assert session is not None
    older = replace(session, seen=session.seen - ACTIVITY_REFRESH_SECONDS - 5)
    client.cookies.clear()
    client.cookies.set(COOKIE, encode(older, app_secret))
    response = client.get("/", follow_redirects=False)
    assert response.status_code == 200
    refreshed = decode(response.cookies[COOKIE], app_secret)
    assert refreshed is not None and refreshed.sid == session.sid
    assert refreshed.seen > older.seen and refreshed.expires == session.expires


def test_wrong_password_and_ingest_key_are_refused(keyed: Keyed) -> None:
    assert _login(keyed, "wrong")[1] == 401
    assert _login(keyed, keyed.keys[Scope.INGEST])[1] == 401
    assert _login(keyed, SETTINGS_ADMIN_KEY)[1] == 303
