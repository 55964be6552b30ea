"""The alert endpoints on a running collector (TestClient), on DuckDB and PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from promptloop.server.app import create_app
from promptloop.server.settings import Settings
from tests.analytics.test_alerts import FEATURE_ONLY, SETTINGS, at, rise
from tests.support.alert_traffic import load
from tests.support.webhook_recorder import WebhookRecorder


@pytest.fixture
def alert_settings(settings: Settings) -> Settings:
    # No schedule: the tests decide when checks run.
    return dataclasses.replace(settings, alerts=SETTINGS, alerts_interval=0, signals_interval=0)


@pytest.fixture
def alert_client(alert_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(alert_settings)) as client:
        load(client.app.state.store, rise())  # type: ignore[attr-defined]
        yield client


def _check(client: TestClient, hours: float, minutes: float = 0) -> dict[str, Any]:
    response = client.post("/v1/alerts/check", json={"now": at(hours, minutes).isoformat()})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_check_list_show_and_acknowledge(alert_client: TestClient) -> None:
    report = _check(alert_client, 72)
    opened = report["opened"]
    assert isinstance(opened, list) and len(opened) == 2
    assert report["streams"] == 2 and report["checked_at"] == "2026-11-04T00:02:00Z"
    first = opened[0]
    assert first["message"].startswith("Regeneration rate on summarize")
    assert "series" not in first["evidence"]

    listed = alert_client.get("/v1/alerts").json()
    assert listed["status"] == "active"
    assert {a["alert_id"] for a in listed["items"]} == {a["alert_id"] for a in opened}
    assert alert_client.get("/v1/alerts", params={"status": "resolved"}).json()["items"] == []
    only = alert_client.get("/v1/alerts", params={"rule_id": "regeneration.prompt_version"})
    assert [a["prompt_version"] for a in only.json()["items"]] == ["1.0.0"]

    shown = alert_client.get(f"/v1/alerts/{first['alert_id']}").json()
    assert len(shown["evidence"]["series"]["n"]) == 288
    assert shown["window_start"].endswith("Z")

    ack = alert_client.post(
        f"/v1/alerts/{first['alert_id']}/ack", json={"by": "alice", "note": "rolling back"}
    )
    assert ack.status_code == 200
    assert (ack.json()["status"], ack.json()["acknowledged_by"]) == ("acknowledged", "alice")
    again = alert_client.post(f"/v1/alerts/{first['alert_id']}/ack", json={"by": "bob"})
    assert again.status_code == 409 and again.json()["error"] == "conflict"
    assert "already acknowledged by alice" in again.json()["message"]

    recheck = _check(alert_client, 72, 5)
    assert recheck["opened"] == [] and len(recheck["updated"]) == 2
    status = alert_client.get("/v1/alerts/status").json()
    assert status["last_run"]["updated"] == 2 and status["last_error"] is None


def test_errors(alert_client: TestClient) -> None:
    missing = alert_client.get("/v1/alerts/no-such-alert")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert missing.json()["message"] == "no alert no-such-alert"
    bad = alert_client.get("/v1/alerts", params={"status": "closed"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "status"
    no_by = alert_client.post("/v1/alerts/x/ack", json={"note": "who?"})
    assert no_by.status_code == 422 and no_by.json()["errors"][0]["field"] == "by"
    unknown = alert_client.post("/v1/alerts/x/ack", json={"by": "alice"})
    assert unknown.status_code == 404


def test_resolution_through_the_api(alert_client: TestClient) -> None:
    assert len(_check(alert_client, 72)["opened"]) == 2
    resolved = _check(alert_client, 104)["resolved"]  # no traffic for a whole window
    assert isinstance(resolved, list) and len(resolved) == 2
    assert all(a["status"] == "resolved" for a in resolved)
    assert alert_client.get("/v1/alerts").json()["items"] == []
    assert len(alert_client.get("/v1/alerts", params={"status": "all"}).json()["items"]) == 2


def test_new_alerts_reach_the_webhook(alert_settings: Settings) -> None:
    with WebhookRecorder() as hook:
        settings = dataclasses.replace(alert_settings, alert_webhook_url=hook.url)
        with TestClient(create_app(settings)) as client:
            load(client.app.state.store, rise())  # type: ignore[attr-defined]
            opened = _check(client, 72)["opened"]
            scheduler = client.app.state.alerts  # type: ignore[attr-defined]
            assert scheduler.wait_delivered(timeout=30)
            shown = client.get(f"/v1/alerts/{opened[0]['alert_id']}").json()
            assert shown["notified_at"] is not None and shown["notify_error"] is None
            assert client.get("/v1/alerts/status").json()["last_delivery"]["failed"] == {}
    assert sorted(body["alert"]["alert_id"] for body in hook.bodies()) == sorted(
        a["alert_id"] for a in opened
    )
    assert all(body["text"].startswith("Regeneration rate on summarize") for body in hook.bodies())


def test_a_refusing_webhook_is_recorded_not_fatal(alert_settings: Settings) -> None:
    with WebhookRecorder([400]) as hook:  # a client error: not retried
        settings = dataclasses.replace(
            alert_settings, alert_webhook_url=hook.url, alerts=FEATURE_ONLY
        )
        with TestClient(create_app(settings)) as client:
            load(client.app.state.store, rise())  # type: ignore[attr-defined]
            [alert] = _check(client, 72)["opened"]
            assert client.app.state.alerts.wait_delivered(timeout=30)  # type: ignore[attr-defined]
            shown = client.get(f"/v1/alerts/{alert['alert_id']}").json()
            assert shown["notified_at"] is None
            assert shown["notify_error"] == "HTTP 400: webhook says no (after 1 attempt)"
            # the next check tries again (the webhook accepts by now)
            _check(client, 72, 5)
            assert client.app.state.alerts.wait_delivered(timeout=30)  # type: ignore[attr-defined]
            assert client.get(f"/v1/alerts/{alert['alert_id']}").json()["notified_at"]
    assert [r.status for r in hook.requests] == [400, 200]
