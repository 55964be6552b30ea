"""The review queue over HTTP (``/v1/review``), the dashboard's review endpoints, and the
terminal's keys-only ``review next``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from promptloop.cli.main import app
from promptloop.review.config import ReviewSettings
from promptloop.store import open_store
from promptloop.store.base import Store
from tests.review.conftest import NOW, world
from tests.ui.conftest import make_app

KEY = "review-admin-key"


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[tuple[Store, list[str]]]:
    store = open_store(f"duckdb:///{tmp_path}/api.duckdb")
    w = world(store)
    ids = [w.interaction(hours_ago=1 + n / 10) for n in range(4)]
    for ident in ids:
        w.event(ident, "thumbs_down", category="wrong")
    w.save()
    yield store, ids
    store.close()


def _client(store: Store, root: Path, **overrides: object) -> TestClient:
    app = make_app(store, root, **overrides)
    app.state.review_settings = ReviewSettings(double_label_share=0.0)
    return TestClient(app)


def test_claim_label_and_conflicts_over_http(
    seeded: tuple[Store, list[str]], tmp_path: Path
) -> None:
    store, ids = seeded
    auth = {"Authorization": f"Bearer {KEY}"}
    with _client(store, tmp_path, api_keys=frozenset({KEY})) as client:
        assert client.post("/v1/review/next", json={"reviewer": "ann"}).status_code == 401
        added = client.post(
            "/v1/review/enqueue", json={"days": 30, "now": NOW.isoformat()}, headers=auth
        )
        assert added.status_code == 200 and added.json()["added"] == 4
        ann = client.post("/v1/review/next", json={"reviewer": "ann"}, headers=auth).json()
        bob = client.post("/v1/review/next", json={"reviewer": "bob"}, headers=auth).json()
        assert ann["item"]["item_id"] != bob["item"]["item_id"]
        assert ann["prefill"]["category"] == "wrong"
        assert ann["interaction"]["interaction_id"] in ids

        item = ann["item"]["item_id"]
        stolen = client.post(
            f"/v1/review/items/{item}/label",
            json={"reviewer": "bob", "verdict": "bad"},
            headers=auth,
        )
        assert stolen.status_code == 409 and "held by ann" in stolen.json()["message"]
        claim = client.post(
            f"/v1/review/items/{item}/claim", json={"reviewer": "bob"}, headers=auth
        )
        assert claim.status_code == 409
        invalid = client.post(
            f"/v1/review/items/{item}/label",
            json={"reviewer": "ann", "verdict": "bad", "severity": "huge"},
            headers=auth,
        )
        assert invalid.status_code == 422 and invalid.json()["errors"][0]["field"] == "severity"
        done = client.post(
            f"/v1/review/items/{item}/label",
            json={"reviewer": "ann", "verdict": "bad", "category": "wrong", "notes": "n"},
            headers=auth,
        )
        assert done.status_code == 200
        assert done.json()["item"]["status"] == "done"
        assert len(done.json()["onward"]["feedback_ids"]) == 1

        queue = client.get("/v1/review/queue", params={"status": "all"}, headers=auth).json()
        assert queue["counts"] == {
            "open": 3,
            "done": 1,
            "labels": 1,
            "by_rule": {"negative_feedback": {"done": 1, "open": 3}},
        }
        released = client.post(
            f"/v1/review/items/{bob['item']['item_id']}/release",
            json={"reviewer": "bob"},
            headers=auth,
        )
        assert released.json()["claimed_by"] is None
        missing = client.get("/v1/review/items/nope", headers=auth)
        assert missing.status_code == 404
        agreement = client.get("/v1/review/agreement", headers=auth).json()
        assert agreement["double_labelled_items"] == 0
        calibrated = client.post("/v1/review/triage/calibrate", json={}, headers=auth)
        assert calibrated.status_code == 200 and calibrated.json()["confirmed"] == []
        bad_rule = client.post("/v1/review/enqueue", json={"rules": ["all"]}, headers=auth)
        assert bad_rule.status_code == 422 and "rules" in bad_rule.json()["message"]


def test_the_dashboard_review_endpoints_need_the_pages_csrf_token(
    seeded: tuple[Store, list[str]], tmp_path: Path
) -> None:
    store, _ = seeded
    with _client(store, tmp_path) as client:
        page = client.get("/review")
        assert page.status_code == 200 and 'id="review-config"' in page.text
        found = re.search(r'data-csrf="([^"]+)"', page.text)
        assert found
        token = {"x-csrf-token": found.group(1)}
        assert client.post("/review/api/next", json={"reviewer": "kim"}).status_code == 403
        view = client.post("/review/api/next", json={"reviewer": "kim"}, headers=token).json()
        assert view["empty"] is False  # the empty queue was filled by the rules
        item = view["item"]["item_id"]
        bad = client.post(
            f"/review/api/items/{item}/label", json={"reviewer": "kim"}, headers=token
        )
        assert bad.status_code == 422 and bad.json()["message"].startswith("verdict")
        ok = client.post(
            f"/review/api/items/{item}/label",
            json={"reviewer": "kim", "verdict": "good", "duration_ms": 812},
            headers=token,
        )
        assert ok.status_code == 200 and ok.json()["label"]["duration_ms"] == 812
        again = client.post(
            f"/review/api/items/{item}/label",
            json={"reviewer": "kim", "verdict": "bad"},
            headers=token,
        )
        assert again.status_code == 409


def test_review_next_reads_single_keys_from_a_pipe(
    seeded: tuple[Store, list[str]], tmp_path: Path
) -> None:
    store, _ = seeded
    store.close()
    url = f"duckdb:///{tmp_path}/api.duckdb"
    # item 1: bad, category 3 (off_topic), severity low, fixability prompt_fixable, save;
    # item 2: good, save; item 3: q gives it back.
    result = CliRunner().invoke(
        app,
        ["--store", url, "review", "next", "--reviewer", "dana", "--interactive"],
        input="b3sf\ng\nq",
        env={"PROMPTLOOP_URL": None, "PROMPTLOOP_REVIEW_CONFIG": None},
    )
    assert result.exit_code == 0, result.output
    assert "stopped; 2 labelled" in result.stdout
    reopened = open_store(url)
    try:
        rows = reopened.fetch_all(
            "SELECT verdict, category, severity, fixability FROM review_labels ORDER BY created_at"
        )
        held = reopened.fetch_all(
            "SELECT count(*) AS n FROM review_items WHERE claimed_by IS NOT NULL"
        )
    finally:
        reopened.close()
    assert rows == [
        {
            "verdict": "bad",
            "category": "off_topic",
            "severity": "low",
            "fixability": "prompt_fixable",
        },
        {"verdict": "good", "category": "wrong", "severity": None, "fixability": None},
    ]
    assert held[0]["n"] == 0


def test_the_review_api_answers_401_json_when_logged_out(
    seeded: tuple[Store, list[str]], tmp_path: Path
) -> None:
    store, _ = seeded
    with _client(store, tmp_path, dashboard_password="review-pw") as client:
        answer = client.post("/review/api/next", json={"reviewer": "kim"}, follow_redirects=False)
        assert answer.status_code == 401 and answer.json()["error"] == "unauthorized"
        page = client.get("/review", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/login?next=/review"
