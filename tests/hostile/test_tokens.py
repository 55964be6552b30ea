"""Forged, expired, tampered and replayed feedback tokens: a clear 4xx, nothing stored."""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from promptloop.core.tokens import ReplayGuard, derive_key, event_identity, sign
from promptloop.server.api.browser import keyring
from promptloop.server.app import create_app
from promptloop.store import open_store
from tests.hostile.conftest import Collector, collector_settings


def _key(collector: Collector) -> bytes:
    return keyring(collector.client.app).signing_key  # type: ignore[arg-type]


def _post(collector: Collector, token: str, body: Any) -> Any:
    return collector.client.post(
        f"/v1/feedback/{token}", content=json.dumps(body), headers={"content-type": "text/plain"}
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _refused(
    collector: Collector, before: dict[str, int], response: Any, status: int, code: str
) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == code
    assert collector.counts() == before


def test_forged_tokens_are_refused(collector: Collector) -> None:
    interaction_id = str(uuid.uuid4())
    before = collector.counts()
    body = {"feedbackType": "thumbs_down"}
    foreign = sign(derive_key("an attacker's secret"), interaction_id)
    _refused(collector, before, _post(collector, foreign, body), 401, "invalid_token")
    # A genuine token whose payload is rewritten to another interaction and every type.
    genuine = sign(_key(collector), interaction_id, types=["thumbs_up"])
    payload_part, signature = genuine.split(".")
    payload = json.loads(base64.urlsafe_b64decode(payload_part + "=="))
    payload.update(i=str(uuid.uuid4()), t=["thumbs_down", "report"], e=int(time.time()) + 10**9)
    tampered = f"{_b64(json.dumps(payload).encode())}.{signature}"
    _refused(collector, before, _post(collector, tampered, body), 401, "invalid_token")
    for malformed in ("x", "a.b", "a.b.c", "%00", "." * 5000, _b64(b"{}") + "." + signature):
        response = _post(collector, malformed, body)
        assert response.status_code in (401, 404), (malformed, response.text)
    assert collector.counts() == before


def test_a_token_only_allows_its_interaction_and_types(collector: Collector) -> None:
    interaction_id = str(uuid.uuid4())
    token = sign(_key(collector), interaction_id, types=["thumbs_up"])
    before = collector.counts()
    _refused(
        collector, before, _post(collector, token, {"feedbackType": "report"}), 403, "out_of_scope"
    )
    other = {"feedbackType": "thumbs_up", "interactionId": str(uuid.uuid4())}
    _refused(collector, before, _post(collector, token, other), 403, "out_of_scope")
    smuggled = {
        "feedbackType": "thumbs_up",
        "source": "annotator",
        "timestamp": "2001-01-01T00:00:00Z",
    }
    assert _post(collector, token, smuggled).status_code == 200
    collector.counts()  # flushes the ingest buffer
    [row] = collector.store.fetch_all(
        "SELECT source, timestamp FROM feedback_events WHERE interaction_id = :i",
        {"i": interaction_id},
    )
    assert row["source"] == "user" and row["timestamp"].year > 2001


def test_an_expired_token_is_refused(collector: Collector) -> None:
    token = sign(_key(collector), str(uuid.uuid4()), ttl_seconds=60, now=time.time() - 120)
    before = collector.counts()
    _refused(
        collector,
        before,
        _post(collector, token, {"feedbackType": "thumbs_up"}),
        401,
        "expired_token",
    )


@pytest.mark.parametrize(
    "event",
    [
        {"feedbackType": "thumbs_down", "category": "wrong"},
        {"feedbackType": "copy", "feedbackId": "widget-generated-id"},
    ],
    ids=["without-id", "with-id"],
)
def test_a_replayed_request_is_a_409_and_stores_nothing(
    collector: Collector, event: dict[str, Any]
) -> None:
    interaction_id = str(uuid.uuid4())
    token = sign(_key(collector), interaction_id)
    assert _post(collector, token, event).status_code == 200
    before = collector.counts()
    for _ in range(3):
        _refused(collector, before, _post(collector, token, event), 409, "replayed")
    # Another event on the same token is not a replay.
    assert _post(collector, token, {"feedbackType": "thumbs_up"}).status_code == 200
    assert collector.counts()["feedback_events"] == before["feedback_events"] + 1


def test_a_replay_after_a_restart_stores_nothing(tmp_path: Path) -> None:
    """The guard is in memory; the identity kept as feedback_id makes the store refuse it."""
    store = open_store(f"duckdb:///{tmp_path}/replay.duckdb")
    settings = collector_settings(tmp_path, store.url)
    event = {"feedbackType": "thumbs_down"}
    interaction_id = str(uuid.uuid4())
    counts = []
    token = ""
    for _ in range(2):  # two collector lifetimes on one store: the guard starts empty
        with TestClient(create_app(settings, store=store)) as client:
            collector = Collector(client, store)
            token = token or sign(_key(collector), interaction_id)
            assert _post(collector, token, event).status_code == 200
            counts.append(collector.counts()["feedback_events"])
    store.close()
    assert counts == [1, 1]


def test_the_guard_forgets_expired_and_oldest_identities() -> None:
    now = [1000.0]
    guard = ReplayGuard(capacity=2, clock=lambda: now[0])
    guard.remember(["a", "b"], expires_at=1010.0)
    assert guard.replayed(["a", "b", "c"]) == ["a", "b"]
    guard.remember(["c"], expires_at=1010.0)
    assert guard.replayed(["a", "b", "c"]) == ["b", "c"]  # "a", the oldest, went first
    now[0] = 1011.0
    assert guard.replayed(["b", "c"]) == []
    token = sign(derive_key("k"), str(uuid.uuid4()))
    assert event_identity(token, {"feedbackType": "copy"}) == event_identity(
        token, {"feedbackType": "copy"}
    )
    assert event_identity(token, {"feedbackType": "copy"}) != event_identity(
        token, {"feedbackType": "copy", "feedbackId": "x"}
    )
