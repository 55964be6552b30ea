"""The demo chat: its API (no browser), then the whole loop in Chromium."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.testclient import TestClient

from promptloop.core.tokens import verify
from promptloop.server.api.browser import load_keyring
from promptloop.server.app import create_app
from promptloop.server.demo_chat import FALLBACK, MODEL, PROMPT_VERSION, TOPICS, answer_for
from promptloop.server.settings import Settings
from tests.browser.live import LiveCollector

if TYPE_CHECKING:
    from playwright.sync_api import Page

API_KEY = "demo-api-key"


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    given: dict[str, Any] = {
        "store_url": f"duckdb:///{tmp_path}/store.duckdb",
        "data_dir": tmp_path / "data",
        "api_keys": frozenset({API_KEY}),
        "feedback_secrets": frozenset(),
        "cors_origins": frozenset(),
        "demo_enabled": True,
        "signals_interval": 0,
        "fsync": False,
    }
    given.update(overrides)
    return Settings(**given)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(_settings(tmp_path))) as test_client:
        yield test_client


AUTH = {"Authorization": f"Bearer {API_KEY}"}


def _ask(client: TestClient, message: str, parent: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"message": message, "session_id": "demo-session-1"}
    if parent:
        body["parent_interaction_id"] = parent
    response = client.post("/demo/api/chat", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_answers_are_canned_and_deterministic() -> None:
    assert answer_for("How do I EXPORT a notebook?") == ("export", TOPICS[0].answers[0])
    assert answer_for("How do I export a notebook?", 1) == ("export", TOPICS[0].answers[1])
    assert answer_for("what is the meaning of life") == ("fallback", FALLBACK.answers[0])
    assert answer_for("stage fright")[0] == "fallback"  # "tag" only at a word's start
    assert all(len(topic.answers) >= 2 for topic in TOPICS)


def test_the_demo_is_off_unless_enabled(tmp_path: Path) -> None:
    with TestClient(create_app(_settings(tmp_path, demo_enabled=False))) as client:
        assert client.get("/demo").status_code == 404
        assert (
            client.post("/demo/api/chat", json={"message": "hi", "session_id": "s"}).status_code
            == 404
        )
        assert (
            client.get("/demo/api/events", params={"interaction_id": str(uuid.uuid4())}).status_code
            == 404
        )
        assert client.get("/widget.js").status_code == 200  # the widget is always served


def test_chat_logs_a_real_interaction_and_returns_a_token(client: TestClient) -> None:
    answer = _ask(client, "How do I share a note with a teammate?")
    assert answer["simulated"] is True
    assert answer["output"] == answer_for("share a note")[1]
    iid = answer["interaction_id"]
    keys = load_keyring(client.app.state.settings).keys  # type: ignore[attr-defined]
    claims = verify(answer["token"], keys)
    assert claims.interaction_id == iid
    assert claims.allows("thumbs_down") and not claims.allows("follow_up")

    stored = client.get(f"/v1/interactions/{iid}", headers=AUTH).json()
    assert stored["model"] == MODEL
    assert stored["feature"] == "support_chat"
    assert stored["prompt_version"] == PROMPT_VERSION
    assert stored["prompt_hash"].startswith("sha256:")
    assert stored["metadata"]["simulated"] is True
    assert stored["session_id"] == "demo-session-1"
    assert stored["user_input"] == "How do I share a note with a teammate?"
    assert stored["raw_output"] == answer["output"]
    assert stored["input_tokens"] > 0 and stored["output_tokens"] > 0
    assert stored["latency_ms"] > 0


def test_regenerate_links_the_parent_and_takes_the_next_variant(client: TestClient) -> None:
    first = _ask(client, "How do I restore a deleted note?")
    second = _ask(client, "How do I restore a deleted note?", first["interaction_id"])
    third = _ask(client, "How do I restore a deleted note?", second["interaction_id"])
    assert [first["attempt"], second["attempt"], third["attempt"]] == [1, 2, 3]
    assert first["output"] != second["output"]
    assert third["output"] == first["output"]  # two variants: the chain cycles
    stored = client.get(f"/v1/interactions/{second['interaction_id']}", headers=AUTH).json()
    assert stored["parent_interaction_id"] == first["interaction_id"]

    unknown = client.post(
        "/demo/api/chat",
        json={"message": "x", "session_id": "s", "parent_interaction_id": str(uuid.uuid4())},
    )
    assert unknown.status_code == 404


def test_chat_validates_its_input(client: TestClient) -> None:
    for body in (
        {"message": "", "session_id": "s"},
        {"message": "hi", "session_id": "bad session id!"},
        {"message": "x" * 2001, "session_id": "s"},
        {"message": "hi", "session_id": "s", "api_key": "nope"},
    ):
        assert client.post("/demo/api/chat", json=body).status_code == 422


def test_events_shows_only_demo_interactions(client: TestClient) -> None:
    answer = _ask(client, "How do I set a reminder?")
    iid = answer["interaction_id"]
    sent = client.post(
        f"/v1/feedback/{answer['token']}",
        json={"feedbackType": "thumbs_up", "feedbackId": "demo-f1"},
    )
    assert sent.status_code == 200
    # An interaction logged by an app, with feedback: never visible through the demo.
    outsider = str(uuid.uuid4())
    client.post(
        "/v1/interactions",
        json={"interactionId": outsider, "userInput": "private", "rawOutput": "private"},
        headers=AUTH,
    )
    client.post(
        "/v1/feedback",
        json={"interactionId": outsider, "feedbackType": "thumbs_down", "comment": "private"},
        headers=AUTH,
    )
    response = client.get("/demo/api/events", params={"interaction_id": [iid, outsider, "junk"]})
    assert response.status_code == 200
    body = response.json()
    assert [(e["interaction_id"], e["feedback_type"]) for e in body["items"]] == [
        (iid, "thumbs_up")
    ]
    assert body["unknown"] == [outsider, "junk"]
    assert "private" not in response.text


def test_the_demo_never_shows_a_secret(tmp_path: Path) -> None:
    settings = _settings(tmp_path, feedback_secrets=frozenset({"feedback-secret-xyz"}))
    with TestClient(create_app(settings)) as client:
        page = client.get("/demo")
        answer = client.post("/demo/api/chat", json={"message": "export", "session_id": "s"})
        for text in (page.text, answer.text, client.get("/demo/demo.js").text):
            assert "feedback-secret-xyz" not in text and API_KEY not in text
        assert "SIMULATED" in page.text
        csp = page.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        nonce = csp.split("'nonce-")[1].split("'")[0]
        assert f'nonce="{nonce}"' in page.text


# -- in the browser -------------------------------------------------------------------------
@pytest.mark.browser
def test_the_demo_end_to_end(page: Page, collector: LiveCollector) -> None:
    from playwright.sync_api import expect

    problems: list[str] = []  # CSP violations and script errors show up here
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{collector.url}/demo")
    expect(page.get_by_role("heading", level=1)).to_contain_text("SIMULATED")
    page.get_by_label("Ask about Acme Notes").fill("How do I export a notebook to PDF?")
    page.get_by_label("Ask about Acme Notes").press("Enter")
    first = page.locator(".msg.assistant").first
    expect(first.locator(".pl-output")).to_have_text(answer_for("export")[1])
    iid = first.get_attribute("data-interaction-id")
    assert iid

    events = page.locator("#events")
    with page.expect_response(lambda r: "/v1/feedback/" in r.url) as sent:
        first.get_by_role("button", name="Good response").click()
    assert sent.value.status == 200
    expect(events.locator("li[data-feedback-type=thumbs_up]")).to_have_count(1)
    expect(events).to_contain_text(f"thumbs_up on {iid[:8]}")

    # Regenerate: the hook re-asks with the parent; the new answer gets its own widget.
    first.get_by_role("button", name="Regenerate").click()
    second = page.locator(".msg.assistant").nth(1)
    expect(second.locator(".who")).to_have_text("Assistant (simulated), regenerated answer #2")
    expect(second.locator(".pl-output")).to_have_text(answer_for("export", 1)[1])
    expect(events.locator("li[data-feedback-type=regenerate]")).to_have_count(1)

    second.get_by_role("button", name="Bad response").click()
    second.get_by_role("button", name="Wrong").click()
    expect(events.locator("li[data-feedback-type=thumbs_down]")).to_contain_text("category wrong")

    new_id = second.get_attribute("data-interaction-id")
    stored = collector.http.get(f"/v1/interactions/{new_id}").json()
    assert stored["parent_interaction_id"] == iid
    assert stored["metadata"]["simulated"] is True
    assert [(e["feedback_type"], e["category"]) for e in stored["feedback"]] == [
        ("thumbs_down", "wrong")
    ]
    first_events = collector.feedback(iid)
    assert sorted(e["feedback_type"] for e in first_events) == ["regenerate", "thumbs_up"]
    assert problems == []
