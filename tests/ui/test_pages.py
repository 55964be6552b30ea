"""The dashboard's page handlers in-process (FastAPI's TestClient): status codes, JSON
twins, empty states, exports, saved views, login, CSRF."""

from __future__ import annotations

import csv
import io
import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from promptloop.server.ui import auth, data
from promptloop.server.ui.snapshots import PENDING, Snapshots
from promptloop.store.base import Store
from tests.ui import dataset
from tests.ui.conftest import API_KEY, PASSWORD

PAGES = [
    "/",
    "/prompts",
    "/prompts/support_assistant",
    "/interactions",
    f"/interactions/{dataset.EDITED_ID}",
    "/patterns",
    "/alerts",
    f"/alerts/{dataset.OPEN_ALERT}",
    "/questions/negative-inputs",
    "/questions/regenerated?prompt_version=2.2.0",
]


def _json_path(path: str) -> str:
    base, _, query = path.partition("?")
    base = "/index" if base == "/" else base
    return f"{base}.json" + (f"?{query}" if query else "")


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_html_and_json(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    assert "Traceback" not in response.text
    assert "app;dur=" in response.headers["server-timing"]
    as_json = client.get(_json_path(path))
    assert as_json.status_code == 200
    assert as_json.headers["content-type"] == "application/json"
    assert isinstance(as_json.json(), dict)


def test_assets_are_served_by_the_collector(client: TestClient) -> None:
    html = client.get("/").text
    sources = re.findall(r'(?:src|href)="(/ui/static/[^"]+)"', html)
    assert "/ui/static/vendor/chart.umd.min.js" in sources
    for source in sources:
        assert client.get(source).status_code == 200
    assert "http://" not in html.split("<main>")[0] and "https://" not in html
    assert client.get("/ui/static/vendor/chart.js.LICENSE.md").status_code == 200
    policy = client.get("/").headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy


def test_the_api_and_other_routes_still_work(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/v1/stats").status_code == 200
    assert client.get("/docs").status_code == 200
    assert client.get("/widget.js").status_code == 200


def test_overview_json_has_rates_with_intervals(client: TestClient) -> None:
    body = client.get("/index.json").json()
    assert not body["pending"]
    features = {f["feature"]: f for f in body["features"]}
    assert set(features) == {"support_chat", "summarize", "email_draft"}
    rates = features["support_chat"]["rates"]
    for name in ("regeneration", "thumbs_down", "edit", "abandonment", "follow_up", "response"):
        assert rates[name]["low"] <= rates[name]["rate"] <= rates[name]["high"]
    assert len(features["support_chat"]["series"]) >= 10
    assert [a["alert_id"] for a in body["alerts"]] == [dataset.OPEN_ALERT]
    assert body["deployments"][0]["label"] == "production"
    assert {v["prompt_version"] for v in body["versions"]} >= {"2.2.0", "1.4.1"}


def test_overview_links_the_seed_questions(client: TestClient) -> None:
    html = client.get("/").text
    assert 'href="/questions/negative-inputs?days=14"' in html
    assert "/questions/regenerated?prompt_version=2.2.0" in html


def test_negative_inputs_answer_matches_the_api(client: TestClient) -> None:
    page = client.get("/questions/negative-inputs.json?days=14").json()
    api = client.get("/v1/queries/negative-inputs?days=14&limit=50").json()
    assert [r["normalized_input"] for r in page["items"]] == [
        r["normalized_input"] for r in api["items"]
    ]


def test_regenerated_answer_matches_the_api(client: TestClient) -> None:
    page = client.get("/questions/regenerated.json?prompt_version=2.2.0").json()
    api = client.get("/v1/queries/regenerated-inputs?prompt_version=2.2.0").json()
    assert page["items"] == api["items"]
    assert any(r["user_input"] == dataset.EDIT_INPUT for r in page["items"]) or page["items"]


def test_prompt_page_has_versions_verdicts_changelog_and_series(client: TestClient) -> None:
    body = client.get("/prompts/support_assistant.json").json()
    assert [v["prompt_version"] for v in body["metrics"]["versions"]] == ["2.0.0", "2.1.0", "2.2.0"]
    # The demo's A/B rollout of 2.2.0 also left it on the "experiment" label.
    assert body["registered"] and body["labels"]["production"] == "2.2.0"
    comparison = body["metrics"]["comparisons"][0]
    assert comparison["feature"] == "support_chat"
    assert {c["verdict"] for c in comparison["comparisons"]} <= {
        "better",
        "worse",
        "insufficient",
        "no_difference",
    }
    assert set(body["metrics"]["series"]) == {"2.0.0", "2.1.0", "2.2.0"}
    kinds = [e["kind"] for e in body["history"]]
    assert kinds.count("version") == 3 and "deployment" in kinds
    # Three production rollouts and the A/B test's experiment label.
    assert [m["label"].split(" ")[0] for m in body["markers"]].count("production") == 3
    assert len(body["markers"]) == 4
    assert set(body["diffs"]) == {"2.1.0", "2.2.0"}


def test_unknown_things_are_404(client: TestClient) -> None:
    for path in (
        "/interactions/00000000-0000-4000-8000-000000000000",
        "/alerts/nope",
        "/prompts/no_such_prompt",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "Not found" in response.text
        assert client.get(path + ".json").status_code == 404


def test_explorer_filters(client: TestClient) -> None:
    def ids(query: str) -> list[str]:
        body = client.get(f"/interactions.json?{query}&limit=500").json()
        assert not body["problems"], body["problems"]
        return [row["interaction_id"] for row in body["items"]]

    everything = ids("")
    assert len(everything) == 500
    email = client.get("/interactions.json?feature=email_draft").json()["items"]
    assert email and {r["feature"] for r in email} == {"email_draft"}
    assert ids("q=HAND-MADE") == [dataset.REGENERATED_ID, dataset.EDITED_ID]
    assert ids("q=hand-made&feedback_type=thumbs_down&category=wrong") == [dataset.EDITED_ID]
    assert ids("session_id=" + dataset.SESSION) == [
        dataset.FOLLOW_ID,
        dataset.REGENERATED_ID,
        dataset.EDITED_ID,
    ]
    assert dataset.EDITED_ID in ids("feedback_type=negative&range=24h")
    assert dataset.EDITED_ID in ids("feedback_source=user&q=hand-made")
    assert ids("q=hand-made&feedback_source=judge") == []
    assert ids("prompt_version=2.2.0&q=50%25") == []  # a literal % is not a wildcard
    since = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    assert dataset.EDITED_ID not in ids(f"since={since}")


def test_explorer_reports_bad_input(client: TestClient) -> None:
    body = client.get("/interactions.json?feedback_type=bogus&cursor=nonsense&since=x").json()
    assert len(body["problems"]) == 3
    assert body["items"] == []


def test_explorer_keyset_paging_has_no_gaps_or_repeats(client: TestClient) -> None:
    seen: list[str] = []
    url = "/interactions.json?feature=summarize&limit=200"
    while url:
        body = client.get(url).json()
        seen += [row["interaction_id"] for row in body["items"]]
        cursor = body["next_cursor"]
        url = f"/interactions.json?feature=summarize&limit=200&cursor={cursor}" if cursor else ""
    everything = client.get("/v1/interactions?feature=summarize&limit=1000").json()["items"]
    assert seen == [row["interaction_id"] for row in everything]


def test_windowed_search_with_a_spent_budget_continues_where_it_stopped(
    demo_store: Store,
) -> None:
    filters = data.ExplorerFilter(q="notes")
    full = [r["interaction_id"] for r in data.iter_rows(demo_store, filters, batch=1000)]
    assert len(full) > 50
    collected: list[str] = []
    cursor: str | None = None
    partial_seen = False
    for _ in range(200):
        page = data.list_page(demo_store, filters, limit=50, cursor=cursor, budget=0.0)
        partial_seen |= page.searched_back_to is not None
        collected += [r["interaction_id"] for r in page.rows]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert partial_seen
    assert collected == full


def test_csv_export_follows_the_filter(client: TestClient) -> None:
    response = client.get("/interactions/export.csv?feature=email_draft&feedback_type=edit")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    expected = client.get(
        "/v1/interactions?feature=email_draft&feedback_type=edit&limit=1000"
    ).json()["items"]
    assert [r["interaction_id"] for r in rows] == [r["interaction_id"] for r in expected]
    assert {r["feature"] for r in rows} == {"email_draft"}
    assert "user_input" in rows[0] and "raw_output" in rows[0]


def test_json_export_streams_every_row(client: TestClient) -> None:
    response = client.get("/interactions/export.json?feature=support_chat")
    items = json.loads(response.text)
    total = client.get("/v1/queries/version-summary?feature=support_chat").json()["items"]
    assert len(items) == sum(v["interactions"] for v in total)
    assert client.get("/interactions/export.xml").status_code == 404
    assert client.get("/interactions/export.csv?feedback_type=bogus").status_code == 422


def test_empty_store_shows_empty_states(empty_client: TestClient) -> None:
    expectations = {
        "/": "No interactions in the last 14 days",
        "/prompts": "No prompts yet",
        "/interactions": "No interactions logged yet",
        "/patterns": "No failure patterns yet",
        "/alerts": "No active alerts",
        "/questions/negative-inputs": "No negative feedback",
        "/questions/regenerated": "Choose a prompt version",
    }
    for path, text in expectations.items():
        response = empty_client.get(path)
        assert response.status_code == 200, path
        assert text in response.text, path
    assert "No interaction matches" in empty_client.get("/interactions?feature=x").text


def test_saved_views_are_stored_server_side(client: TestClient, tmp_path: Path) -> None:
    html = client.get("/interactions").text
    token = _csrf(html)
    response = client.post(
        "/views",
        data={"csrf_token": token, "name": "Wrong answers", "query": "category=wrong&cursor=x"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/interactions?category=wrong"
    stored = json.loads((tmp_path / "data" / "dashboard_views.json").read_text())
    assert [(v["name"], v["query"]) for v in stored] == [("Wrong answers", "category=wrong")]
    body = client.get("/interactions.json").json()
    assert [v["name"] for v in body["views"]] == ["Wrong answers"]
    deleted = client.post(
        f"/views/{stored[0]['id']}/delete", data={"csrf_token": token}, follow_redirects=False
    )
    assert deleted.status_code == 303
    assert client.get("/interactions.json").json()["views"] == []


def test_posts_need_the_csrf_token(client: TestClient, demo_store: Store) -> None:
    alert_id = dataset.add_open_alert(demo_store, "alert-csrf")
    client.get("/alerts")  # gets a session cookie
    for path, form in (
        (f"/alerts/{alert_id}/ack", {"by": "x"}),
        ("/patterns/cluster-tone/triage", {"triage": "prompt_fixable"}),
        ("/views", {"name": "x", "query": ""}),
    ):
        assert client.post(path, data=form).status_code == 403
        assert client.post(path, data={**form, "csrf_token": "forged"}).status_code == 403
    token = _csrf(client.get(f"/alerts/{alert_id}").text)
    done = client.post(
        f"/alerts/{alert_id}/ack", data={"csrf_token": token, "by": "Ari"}, follow_redirects=False
    )
    assert done.status_code == 303
    body = client.get(f"/alerts/{alert_id}.json").json()
    assert body["alert"]["status"] == "acknowledged"
    assert body["alert"]["acknowledged_by"] == "Ari"


def test_triage_validates_the_decision(client: TestClient) -> None:
    token = _csrf(client.get("/patterns").text)
    bad = client.post("/patterns/cluster-export/triage", data={"csrf_token": token, "triage": "x"})
    assert bad.status_code == 422
    missing = client.post(
        "/patterns/nope/triage", data={"csrf_token": token, "triage": "prompt_fixable"}
    )
    assert missing.status_code == 404


def test_login_required_when_a_password_is_set(auth_client: TestClient) -> None:
    first = auth_client.get("/interactions?feature=summarize", follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == "/login?next=/interactions%3Ffeature%3Dsummarize"
    assert auth_client.get("/index.json").status_code == 401
    assert auth_client.get("/interactions/export.csv").status_code == 401
    form = auth_client.get("/login?next=/prompts")
    assert form.status_code == 200
    token = _csrf(form.text)
    assert auth_client.post("/login", data={"password": PASSWORD}).status_code == 403
    wrong = auth_client.post("/login", data={"csrf_token": token, "password": "nope"})
    assert wrong.status_code == 401
    ok = auth_client.post(
        "/login",
        data={"csrf_token": token, "password": PASSWORD, "next": "/prompts"},
        follow_redirects=False,
    )
    assert ok.status_code == 303 and ok.headers["location"] == "/prompts"
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert PASSWORD not in cookie and API_KEY not in cookie
    page = auth_client.get("/prompts")
    assert page.status_code == 200
    assert PASSWORD not in page.text and API_KEY not in page.text
    # The API is unchanged: a key, not the cookie.
    assert auth_client.get("/v1/interactions").status_code == 401
    keyed = auth_client.get("/v1/interactions", headers={"Authorization": f"Bearer {API_KEY}"})
    assert keyed.status_code == 200


def test_login_redirect_target_stays_on_this_site(auth_client: TestClient) -> None:
    for target in ("//evil.example/", "https://evil.example/", "\\\\evil"):
        auth_client.cookies.clear()
        token = _csrf(auth_client.get("/login").text)
        response = auth_client.post(
            "/login",
            data={"csrf_token": token, "password": API_KEY, "next": target},
            follow_redirects=False,
        )
        assert response.headers["location"] == "/"


def test_forged_or_expired_cookies_are_rejected(auth_client: TestClient) -> None:
    secret = b"not the server's secret"
    now = int(time.time())
    forged = auth.encode(auth.Session("sid", True, now + 3600, seen=now), secret)
    auth_client.cookies.set(auth.COOKIE, forged)
    assert auth_client.get("/", follow_redirects=False).status_code == 303
    real_secret = auth_client.app.state.dashboard_secret  # type: ignore[attr-defined]
    expired = auth.encode(auth.Session("sid", True, now - 1, seen=now), real_secret)
    auth_client.cookies.set(auth.COOKIE, expired)
    assert auth_client.get("/", follow_redirects=False).status_code == 303
    valid = auth.encode(auth.Session("sid", True, now + 60, seen=now), real_secret)
    auth_client.cookies.set(auth.COOKIE, valid)
    assert auth_client.get("/", follow_redirects=False).status_code == 200


def test_session_cookie_round_trip_and_tampering() -> None:
    secret = b"k" * 32
    now = int(time.time())
    session = auth.Session("abc", True, now + 60, seen=now)
    value = auth.encode(session, secret)
    assert auth.decode(value, secret) == session
    payload, mac = value.split(".")
    assert auth.decode(payload + "x." + mac, secret) is None
    assert auth.decode("garbage", secret) is None
    assert session.csrf_token(secret) != auth.Session("abd", True, 0).csrf_token(secret)


def test_snapshots_serve_stale_values_and_report_pending() -> None:
    snaps = Snapshots(ttl=0.0, wait=0.0)
    try:
        calls: list[int] = []

        def slow() -> int:
            calls.append(1)
            return len(calls)

        first = snaps.get("k", slow)
        assert first is PENDING or first == 1
        snaps.wait = 10
        assert snaps.get("k", slow) == 1  # waits for the computation under way
        assert snaps.age("k") is not None
        assert snaps.get("k", slow) >= 1  # stale (ttl 0): served at once, refreshed behind
    finally:
        snaps.close()
