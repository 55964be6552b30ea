"""``POST /v1/feedback/{token}`` and ``/widget.js`` at the HTTP level (no browser).

Every refusal is checked to store nothing: the store is read back through the query API.
"""

from __future__ import annotations

import json
import stat
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from promptloop.core.tokens import derive_key, sign
from promptloop.server.api.browser import (
    MAX_EVENTS_PER_REQUEST,
    SECRET_FILE,
    RateLimiter,
    load_keyring,
)
from promptloop.server.app import create_app
from promptloop.server.settings import Settings

API_KEY = "pl-api-key"
SECRET = "pl-feedback-secret"
KEY = derive_key(SECRET)
ALLOWED = "https://app.example.com"
WIDGET = Path(__file__).resolve().parents[2] / "src/promptloop/server/static/widget.js"


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    given: dict[str, Any] = {
        "store_url": f"duckdb:///{tmp_path}/store.duckdb",
        "data_dir": tmp_path / "data",
        "api_keys": frozenset({API_KEY}),
        "feedback_secrets": frozenset({SECRET}),
        "cors_origins": frozenset({ALLOWED}),
        "signals_interval": 0,
        "fsync": False,
    }
    given.update(overrides)
    return Settings(**given)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(tmp_path))) as test_client:
        yield test_client


def _stored(client: TestClient, interaction_id: str) -> list[dict[str, Any]]:
    response = client.get(
        "/v1/feedback",
        params={"interaction_id": interaction_id},
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _iid() -> str:
    return str(uuid.uuid4())


def _post(
    client: TestClient, token: str, body: Any, *, content_type: str = "text/plain;charset=UTF-8"
) -> Any:
    return client.post(
        f"/v1/feedback/{token}",
        content=body if isinstance(body, bytes | str) else json.dumps(body),
        headers={"Content-Type": content_type},
    )


# -- accepted ---------------------------------------------------------------------------
def test_a_beacon_text_plain_body_is_accepted_without_an_api_key(client: TestClient) -> None:
    iid = _iid()
    body = [
        {"feedbackId": "f-1", "feedbackType": "thumbs_down", "category": "wrong"},
        {"feedbackId": "f-2", "feedbackType": "abandon", "metadata": {"trigger": "pagehide"}},
    ]
    response = _post(client, sign(KEY, iid), body)
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 2, "rejected": 0, "errors": []}
    stored = {e["feedback_id"]: e for e in _stored(client, iid)}
    assert stored["f-1"]["category"] == "wrong"
    assert stored["f-2"]["metadata"] == {"trigger": "pagehide"}
    assert {e["source"] for e in stored.values()} == {"user"}


def test_application_json_and_a_single_object_are_accepted(client: TestClient) -> None:
    iid = _iid()
    response = _post(
        client,
        sign(KEY, iid),
        {"feedback_type": "rating", "value": 4},
        content_type="application/json",
    )
    assert response.status_code == 200, response.text
    [event] = _stored(client, iid)
    assert event["value"] == 4


def test_the_token_decides_interaction_source_and_time(client: TestClient) -> None:
    iid = _iid()
    body = {
        "feedbackId": "f-3",
        "interactionId": iid.upper(),  # the same interaction, spelled differently
        "feedbackType": "thumbs_up",
        "source": "judge",
        "timestamp": "2001-01-01T00:00:00Z",
        "relatedInteractionId": _iid(),
    }
    assert _post(client, sign(KEY, iid), body).status_code == 200
    [event] = _stored(client, iid)
    assert event["interaction_id"] == iid
    assert event["source"] == "user"
    assert event["related_interaction_id"] is None
    received = datetime.fromisoformat(event["timestamp"])  # set on receipt
    assert abs((datetime.now(UTC) - received).total_seconds()) < 60


def test_a_retry_with_the_same_feedback_id_is_stored_once(client: TestClient) -> None:
    iid = _iid()
    token = sign(KEY, iid)
    statuses = [
        _post(client, token, {"feedbackId": "same", "feedbackType": "copy"}).status_code
        for _ in range(3)
    ]
    assert statuses == [200, 409, 409]  # a replay (tests/hostile/test_tokens.py)
    assert len(_stored(client, iid)) == 1


def test_tokens_signed_with_an_api_key_are_accepted(client: TestClient) -> None:
    iid = _iid()
    response = _post(client, sign(derive_key(API_KEY), iid), {"feedbackType": "thumbs_up"})
    assert response.status_code == 200, response.text


def test_invalid_events_are_reported_like_the_ingest_api(client: TestClient) -> None:
    iid = _iid()
    token = sign(KEY, iid)
    mixed = _post(client, token, [{"feedbackType": "thumbs_up"}, {"feedbackType": "rating"}])
    assert mixed.status_code == 207
    assert mixed.json()["accepted"] == 1
    assert mixed.json()["errors"][0]["index"] == 1
    bad = _post(client, token, [{"feedbackType": "edit"}])
    assert bad.status_code == 422
    assert bad.json()["error"] == "invalid_items"
    assert _post(client, token, b"{not json").json()["error"] == "invalid_json"
    assert _post(client, token, b'"a string"').status_code == 422
    assert len(_stored(client, iid)) == 1


# -- refused: the token -----------------------------------------------------------------
def _tampered(token: str) -> str:
    body, signature = token.split(".")
    return f"{body}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda iid: _tampered(sign(KEY, iid)), "invalid_token"),
        (lambda iid: sign(derive_key("someone else's secret"), iid), "invalid_token"),
        (lambda iid: sign(KEY, iid, ttl_seconds=60, now=time.time() - 3600), "expired_token"),
        (lambda iid: "not-a-token", "malformed_token"),
        (lambda iid: "x" * 5000, "malformed_token"),
    ],
    ids=["tampered", "unknown-key", "expired", "malformed", "oversized"],
)
def test_bad_tokens_get_401_and_store_nothing(client: TestClient, make: Any, code: str) -> None:
    iid = _iid()
    response = _post(client, make(iid), {"feedbackType": "thumbs_up"})
    assert response.status_code == 401
    assert response.json()["error"] == code
    assert response.json()["message"]
    assert _stored(client, iid) == []


def test_a_forged_interaction_in_the_payload_is_refused(client: TestClient) -> None:
    # Re-sign nothing: swap the interaction inside a valid token's payload.
    iid, victim = _iid(), _iid()
    token = sign(KEY, iid)
    forged = token.replace(token.split(".")[0], sign(KEY, victim).split(".")[0])
    response = _post(client, forged, {"feedbackType": "thumbs_down"})
    assert response.status_code == 401
    assert _stored(client, victim) == [] and _stored(client, iid) == []


# -- refused: scope ----------------------------------------------------------------------
def test_a_type_the_token_does_not_allow_is_out_of_scope(client: TestClient) -> None:
    iid = _iid()
    token = sign(KEY, iid, types=["thumbs_up", "thumbs_down"])
    refused = _post(client, token, [{"feedbackType": "thumbs_up"}, {"feedbackType": "edit"}])
    assert refused.status_code == 403
    assert refused.json()["error"] == "out_of_scope"
    assert refused.json()["index"] == 1
    # Inferred types never reach a browser token.
    follow_up = _post(client, sign(KEY, iid), {"feedbackType": "follow_up"})
    assert follow_up.status_code == 403
    assert _stored(client, iid) == []


def test_an_event_naming_another_interaction_is_out_of_scope(client: TestClient) -> None:
    iid, other = _iid(), _iid()
    for named in (other, "not-a-uuid"):
        response = _post(
            client,
            sign(KEY, iid),
            [{"feedbackType": "thumbs_up"}, {"interaction_id": named, "feedbackType": "copy"}],
        )
        assert response.status_code == 403
        assert response.json()["error"] == "out_of_scope"
    assert _stored(client, iid) == [] and _stored(client, other) == []


# -- refused: size, type, rate -----------------------------------------------------------
def test_an_oversize_body_gets_413(client: TestClient) -> None:
    iid = _iid()
    big = {"feedbackType": "edit", "userEdit": "x" * (16 * 1024)}
    response = _post(client, sign(KEY, iid), big)
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"

    # Without a Content-Length (chunked), the limit holds while reading.
    def chunks() -> Iterator[bytes]:
        payload = json.dumps(big).encode()
        for start in range(0, len(payload), 1000):
            yield payload[start : start + 1000]

    chunked = client.post(
        f"/v1/feedback/{sign(KEY, iid)}", content=chunks(), headers={"Content-Type": "text/plain"}
    )
    assert chunked.status_code == 413
    many = [{"feedbackType": "copy"}] * (MAX_EVENTS_PER_REQUEST + 1)
    assert _post(client, sign(KEY, iid), many).json()["error"] == "batch_too_large"
    assert _stored(client, iid) == []


def test_other_content_types_get_415(client: TestClient) -> None:
    iid = _iid()
    response = _post(
        client,
        sign(KEY, iid),
        "feedbackType=thumbs_up",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 415
    assert _stored(client, iid) == []


def test_the_rate_limit_is_per_token_with_retry_after(tmp_path: Path) -> None:
    with TestClient(create_app(_settings(tmp_path, feedback_rate_per_minute=3))) as client:
        iid = _iid()
        token = sign(KEY, iid)
        statuses = [
            _post(client, token, {"feedbackId": f"c{n}", "feedbackType": "copy"}).status_code
            for n in range(3)
        ]
        assert statuses == [200] * 3
        limited = _post(client, token, {"feedbackType": "thumbs_up"})
        assert limited.status_code == 429
        assert limited.json()["error"] == "rate_limited"
        assert int(limited.headers["Retry-After"]) >= 1
        # Another interaction's token has its own budget.
        assert _post(client, sign(KEY, _iid()), {"feedbackType": "copy"}).status_code == 200
        assert len(_stored(client, iid)) == 3


def test_the_token_bucket_refills() -> None:
    now = [1000.0]
    limiter = RateLimiter(30, clock=lambda: now[0])
    assert all(limiter.take("t") == 0 for _ in range(30))
    assert limiter.take("t") == pytest.approx(2.0)  # one event per 2 s
    now[0] += 2.0
    assert limiter.take("t") == 0
    assert limiter.take("t", 5) == pytest.approx(10.0)
    now[0] += 60
    assert limiter.take("t", 30) == 0


# -- CORS ---------------------------------------------------------------------------------
def test_cors_allowed_origin(client: TestClient) -> None:
    iid = _iid()
    response = client.post(
        f"/v1/feedback/{sign(KEY, iid)}",
        content=json.dumps({"feedbackType": "thumbs_up"}),
        headers={"Origin": ALLOWED, "Content-Type": "text/plain"},
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "Origin" in response.headers["Vary"]
    # Errors carry the header too, so the widget can read why.
    refused = client.post(
        f"/v1/feedback/{_tampered(sign(KEY, iid))}",
        content="{}",
        headers={"Origin": ALLOWED, "Content-Type": "text/plain"},
    )
    assert refused.status_code == 401
    assert refused.headers["Access-Control-Allow-Origin"] == ALLOWED


def test_cors_disallowed_origin_stores_nothing(client: TestClient) -> None:
    iid = _iid()
    response = client.post(
        f"/v1/feedback/{sign(KEY, iid)}",
        content=json.dumps({"feedbackType": "thumbs_up"}),
        headers={"Origin": "https://evil.example", "Content-Type": "text/plain"},
    )
    assert response.status_code == 403
    assert response.json()["error"] == "origin_not_allowed"
    assert "Access-Control-Allow-Origin" not in response.headers
    assert _stored(client, iid) == []


def test_same_origin_needs_no_allow_list(tmp_path: Path) -> None:
    with TestClient(create_app(_settings(tmp_path, cors_origins=frozenset()))) as client:
        iid = _iid()
        response = client.post(
            f"/v1/feedback/{sign(KEY, iid)}",
            content=json.dumps({"feedbackType": "thumbs_up"}),
            headers={"Origin": "http://testserver", "Content-Type": "text/plain"},
        )
        assert response.status_code == 200
        assert "Access-Control-Allow-Origin" not in response.headers
        assert _post(client, sign(KEY, iid), {"feedbackType": "copy"}).status_code == 200


def test_a_wildcard_allows_any_origin(tmp_path: Path) -> None:
    with TestClient(create_app(_settings(tmp_path, cors_origins=frozenset({"*"})))) as client:
        response = client.post(
            f"/v1/feedback/{sign(KEY, _iid())}",
            content=json.dumps({"feedbackType": "thumbs_up"}),
            headers={"Origin": "https://anywhere.example", "Content-Type": "text/plain"},
        )
        assert response.status_code == 200
        assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_preflight(client: TestClient) -> None:
    path = f"/v1/feedback/{sign(KEY, _iid())}"
    request = {"Access-Control-Request-Method": "POST"}
    allowed = client.options(
        path,
        headers={**request, "Origin": ALLOWED, "Access-Control-Request-Headers": "content-type"},
    )
    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "POST" in allowed.headers["Access-Control-Allow-Methods"]
    assert allowed.headers["Access-Control-Allow-Headers"].lower() == "content-type"
    refused = client.options(path, headers={**request, "Origin": "https://evil.example"})
    assert refused.status_code == 403
    assert "Access-Control-Allow-Origin" not in refused.headers


def test_cors_never_applies_to_the_api_key_endpoints(client: TestClient) -> None:
    headers = {"Origin": ALLOWED, "Authorization": f"Bearer {API_KEY}"}
    ingest = client.post(
        "/v1/feedback", json={"interactionId": _iid(), "feedbackType": "copy"}, headers=headers
    )
    assert ingest.status_code == 200
    assert "Access-Control-Allow-Origin" not in ingest.headers
    preflight = client.options(
        "/v1/feedback", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "POST"}
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers
    assert preflight.status_code == 405
    query = client.get("/v1/interactions", headers=headers)
    assert "Access-Control-Allow-Origin" not in query.headers
    # And the API-key path still wants its key.
    anonymous = client.post("/v1/feedback", json={"interactionId": _iid(), "feedbackType": "copy"})
    assert anonymous.status_code == 401


# -- keys ---------------------------------------------------------------------------------
def test_without_keys_the_collector_generates_a_private_secret_once(tmp_path: Path) -> None:
    settings = _settings(tmp_path, api_keys=frozenset(), feedback_secrets=frozenset())
    first = load_keyring(settings)
    path = settings.data_dir / SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_keyring(settings) == first  # kept across restarts
    secret = path.read_text().strip()
    assert first.signing_key == derive_key(secret)
    assert len(secret) >= 40

    with TestClient(create_app(settings)) as client:
        iid = _iid()
        response = _post(client, sign(first.signing_key, iid), {"feedbackType": "thumbs_up"})
        assert response.status_code == 200


def test_configured_secrets_are_not_joined_by_a_generated_one(tmp_path: Path) -> None:
    keyring = load_keyring(_settings(tmp_path))
    assert keyring.signing_key == KEY
    assert set(keyring.keys.values()) == {KEY, derive_key(API_KEY)}
    assert not (tmp_path / "data" / SECRET_FILE).exists()


def test_feedback_secrets_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMPTLOOP_FEEDBACK_SECRET", "one, two")
    monkeypatch.setenv("PROMPTLOOP_CORS_ORIGINS", "https://a.example,https://b.example")
    monkeypatch.setenv("PROMPTLOOP_DEMO_ENABLED", "true")
    settings = Settings(data_dir=tmp_path)
    assert settings.feedback_secrets == frozenset({"one", "two"})
    assert settings.cors_origins == frozenset({"https://a.example", "https://b.example"})
    assert settings.demo_enabled is True
    monkeypatch.delenv("PROMPTLOOP_DEMO_ENABLED")
    assert Settings(data_dir=tmp_path).demo_enabled is False


# -- /widget.js ---------------------------------------------------------------------------
def test_the_widget_is_small() -> None:
    size = WIDGET.stat().st_size
    assert size < 15_000, f"widget.js is {size} bytes; the budget is 15 KB"


def test_widget_js_is_served_with_cors_for_allowed_origins(client: TestClient) -> None:
    response = client.get("/widget.js", headers={"Origin": ALLOWED})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.content == WIDGET.read_bytes()
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    other = client.get("/widget.js", headers={"Origin": "https://evil.example"})
    assert other.status_code == 200  # a plain <script src> needs no CORS
    assert "Access-Control-Allow-Origin" not in other.headers


def test_the_widget_holds_no_secret() -> None:
    text = WIDGET.read_text()
    for needle in ("api_key", "apiKey", "Authorization", "X-API-Key", "credentials"):
        assert needle not in text


def test_the_static_files_ship_inside_the_package() -> None:
    # Hatch puts everything under src/promptloop into the wheel; the collector reads them
    # from the package, so an installed collector serves them too.
    static = resources.files("promptloop.server") / "static"
    for name in ("widget.js", "demo.html", "demo.js", "demo.css"):
        assert (static / name).is_file(), name
