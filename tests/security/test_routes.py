"""Every route of the collector, found from ``app.routes``, tried with every credential.

A route added later is covered without touching this file: a ``/v1`` write route that
answers without a key, or to a key of the wrong scope, fails here; so does a dashboard
route that answers without a login, or a dashboard change made with a read-only login.
Public routes are listed here by hand, so making a route public is a visible decision.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import routing
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from promptloop.server.auth import route_scope
from promptloop.server.ui.auth import COOKIE, decode
from promptloop.store.keys import Scope
from tests.security.conftest import DASHBOARD_PASSWORD, Keyed

# Reachable without a key or login, on purpose (see docs/security.md).
PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
    ("GET", "/widget.js"),
    ("GET", "/login"),
    ("POST", "/login"),
    # The browser path: the signed feedback token is the credential (tests/hostile).
    ("POST", "/v1/feedback/{token}"),
    ("OPTIONS", "/v1/feedback/{token}"),
    # Logout needs the session's CSRF token, and ends only the session that sends it.
    ("POST", "/logout"),
}
READ_METHODS = {"GET", "HEAD"}
_PARAM = re.compile(r"\{[^}]+\}")
DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def _routes(client: TestClient) -> dict[tuple[str, str], APIRoute]:
    """Every (method, path) the app serves, with its route (routers included, flattened)."""
    found: dict[tuple[str, str], APIRoute] = {}
    for context in routing.iter_route_contexts(client.app.routes):  # type: ignore[attr-defined]
        route = context.original_route
        if isinstance(route, APIRoute) and context.path:
            for method in context.methods or ():
                found[(method, context.path)] = route
    return found


def _endpoints(client: TestClient) -> list[tuple[str, str]]:
    return sorted(_routes(client))


def _api_routes(keyed: Keyed) -> list[tuple[str, str]]:
    return [
        (m, p) for m, p in _endpoints(keyed.client) if p.startswith("/v1/") and (m, p) not in PUBLIC
    ]


def _call(client: TestClient, method: str, path: str, **kwargs: object) -> int:
    url = _PARAM.sub("x", path)
    body: dict[str, object] | None = None if method in READ_METHODS else {}
    response = client.request(method, url, json=body, follow_redirects=False, **kwargs)  # type: ignore[arg-type]
    return response.status_code


def _scope_of(keyed: Keyed, method: str, path: str) -> Scope:
    return route_scope(method, _routes(keyed.client)[(method, path)])


def test_the_route_list_is_not_empty_and_has_writes(keyed: Keyed) -> None:
    routes = _api_routes(keyed)
    writes = [r for r in routes if r[0] not in READ_METHODS]
    assert len(routes) > 20 and len(writes) > 8
    assert ("POST", "/v1/interactions") in writes and ("POST", "/v1/keys") in writes


def test_every_api_route_refuses_a_request_without_a_key(keyed: Keyed) -> None:
    answers = {route: _call(keyed.client, *route) for route in _api_routes(keyed)}
    unprotected = {route: status for route, status in answers.items() if status != 401}
    assert not unprotected, f"answered without a key: {unprotected}"


def test_every_api_route_refuses_an_unknown_key(keyed: Keyed) -> None:
    headers = {"Authorization": "Bearer pl_not-a-key"}
    answers = {route: _call(keyed.client, *route, headers=headers) for route in _api_routes(keyed)}
    assert set(answers.values()) == {401}, answers


def test_every_api_route_refuses_each_wrong_scope_and_serves_the_right_one(keyed: Keyed) -> None:
    refused_wrongly: dict[tuple[str, str, str], int] = {}
    for method, path in _api_routes(keyed):
        needed = _scope_of(keyed, method, path)
        for scope in Scope:
            status = _call(keyed.client, method, path, headers=keyed.headers(scope))
            allowed = scope.allows(needed)
            if allowed == (status in (401, 403)):
                refused_wrongly[(method, path, scope.value)] = status
            if not allowed and status != 403:
                refused_wrongly[(method, path, scope.value)] = status
    assert not refused_wrongly, refused_wrongly


def test_writes_need_admin_except_ingest(keyed: Keyed) -> None:
    """The classification itself: no write is readable-scope, ingest is exactly the three."""
    ingest = {r for r in _api_routes(keyed) if _scope_of(keyed, *r) is Scope.INGEST}
    assert ingest <= {
        ("POST", "/v1/interactions"),
        ("POST", "/v1/feedback"),
        ("POST", "/v1/traces"),
    }
    assert {("POST", "/v1/interactions"), ("POST", "/v1/feedback")} <= ingest
    for method, path in _api_routes(keyed):
        scope = _scope_of(keyed, method, path)
        if method in READ_METHODS and path != "/v1/keys":
            assert scope is Scope.READ, (method, path)
        elif (method, path) not in ingest:
            assert scope in (Scope.ADMIN, Scope.READ), (method, path)


def test_docs_security_table_lists_every_api_route_with_its_scope(keyed: Keyed) -> None:
    text = DOC.read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `(GET|POST|PUT|PATCH|DELETE) ([^`]+)` \| (\w+) \|", text, re.M))
    missing = []
    for method, path in _api_routes(keyed):
        if method in ("HEAD", "OPTIONS"):
            continue
        if (method, path, _scope_of(keyed, method, path).value) not in rows:
            missing.append(f"| `{method} {path}` | {_scope_of(keyed, method, path).value} |")
    assert not missing, "docs/security.md lacks (or has another scope for):\n" + "\n".join(missing)


# -- the dashboard ------------------------------------------------------------------------
def _dashboard_routes(keyed: Keyed) -> list[tuple[str, str]]:
    return [
        (m, p)
        for m, p in _endpoints(keyed.client)
        if not p.startswith("/v1/") and (m, p) not in PUBLIC and p != "/healthz"
    ]


def _login(keyed: Keyed, secret: str) -> TestClient:
    client = TestClient(keyed.client.app)
    client.get("/login")
    csrf = _csrf(client, keyed)
    response = client.post(
        "/login",
        data={"password": secret, "next": "/", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return client


def _csrf(client: TestClient, keyed: Keyed) -> str:
    secret = keyed.client.app.state.dashboard_secret  # type: ignore[attr-defined]
    session = decode(client.cookies[COOKIE], secret)
    assert session is not None
    return session.csrf_token(secret)


def test_every_dashboard_route_needs_a_login(keyed: Keyed) -> None:
    routes = _dashboard_routes(keyed)
    assert any(m == "POST" for m, _ in routes)
    anonymous = TestClient(keyed.client.app)
    answers = {route: _call(anonymous, *route) for route in routes}
    open_routes = {route: status for route, status in answers.items() if status not in (303, 401)}
    assert not open_routes, open_routes


def test_dashboard_changes_need_an_admin_login(keyed: Keyed) -> None:
    writes = [r for r in _dashboard_routes(keyed) if r[0] not in READ_METHODS]
    reader = _login(keyed, keyed.keys[Scope.READ])
    csrf = {"x-csrf-token": _csrf(reader, keyed)}
    answers = {route: _call(reader, *route, headers=csrf) for route in writes}
    assert set(answers.values()) == {403}, answers
    admin = _login(keyed, DASHBOARD_PASSWORD)
    csrf = {"x-csrf-token": _csrf(admin, keyed)}
    answers = {route: _call(admin, *route, headers=csrf) for route in writes}
    assert not {route: s for route, s in answers.items() if s in (401, 403)}, answers


def test_an_ingest_key_never_opens_the_dashboard(keyed: Keyed) -> None:
    client = TestClient(keyed.client.app)
    client.get("/login")
    response = client.post(
        "/login",
        data={
            "password": keyed.keys[Scope.INGEST],
            "next": "/",
            "csrf_token": _csrf(client, keyed),
        },
        follow_redirects=False,
    )
    assert response.status_code == 401
    assert client.get("/", follow_redirects=False).status_code == 303
