"""Webhook delivery of new alerts, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import socket
from datetime import timedelta

from promptloop.analytics.alerts import check, get_alert
from promptloop.analytics.alerts.webhook import Notifier
from promptloop.store import Store
from tests.analytics.test_alerts import FEATURE_ONLY, at, rise
from tests.support.alert_traffic import load
from tests.support.webhook_recorder import WebhookRecorder


def _open_one(store: Store) -> dict[str, object]:
    load(store, rise())
    [alert] = check(store, FEATURE_ONLY, now=at(72)).opened
    return alert


def test_each_new_alert_is_posted_once(store: Store) -> None:
    alert = _open_one(store)
    with WebhookRecorder() as hook:
        notifier = Notifier(hook.url)
        report = notifier.deliver_pending(store, now=at(72, 1))
        assert report.sent == [alert["alert_id"]] and report.failed == {}
        assert notifier.deliver_pending(store, now=at(72, 2)).sent == []
        notifier.close()
    [request] = hook.requests
    assert request.path == "/hooks/alerts"
    assert request.headers["Content-Type"] == "application/json"
    body = request.json()
    assert body["event"] == "alert.opened"
    assert body["text"] == alert["message"]
    assert body["text"].startswith("Regeneration rate on summarize rose from 7.9% to 12.9% (n=")
    assert body["alert"]["alert_id"] == alert["alert_id"]
    assert body["alert"]["evidence"]["design"]["h"] == alert["threshold"]
    stored = get_alert(store, str(alert["alert_id"]))
    assert stored["notified_at"] is not None and stored["notify_error"] is None


def test_failures_are_retried_with_backoff(store: Store) -> None:
    alert = _open_one(store)
    waits: list[float] = []
    with WebhookRecorder([503, 502]) as hook:
        notifier = Notifier(hook.url, backoff=1.0, sleep=waits.append)
        assert notifier.deliver_pending(store, now=at(72, 1)).sent == [alert["alert_id"]]
        notifier.close()
    assert [r.status for r in hook.requests] == [503, 502, 200]
    assert waits == [1.0, 2.0]
    assert get_alert(store, str(alert["alert_id"]))["notified_at"] is not None


def test_a_failed_delivery_is_recorded_and_tried_again_next_run(store: Store) -> None:
    alert = _open_one(store)
    ident = str(alert["alert_id"])
    with WebhookRecorder([500, 500, 500]) as hook:
        notifier = Notifier(hook.url, sleep=lambda _: None)
        report = notifier.deliver_pending(store, now=at(72, 1))
        assert report.failed == {ident: "HTTP 500: webhook says no (after 3 attempts)"}
        stored = get_alert(store, ident)
        assert stored["notified_at"] is None
        assert stored["notify_error"] == "HTTP 500: webhook says no (after 3 attempts)"
        assert notifier.deliver_pending(store, now=at(72, 6)).sent == [ident]
        notifier.close()
    assert len(hook.requests) == 4
    stored = get_alert(store, ident)
    assert stored["notified_at"] is not None and stored["notify_error"] is None


def test_a_client_error_is_not_retried(store: Store) -> None:
    alert = _open_one(store)
    with WebhookRecorder([404]) as hook:
        notifier = Notifier(hook.url, sleep=lambda _: None)
        report = notifier.deliver_pending(store, now=at(72, 1))
        notifier.close()
    assert len(hook.requests) == 1
    assert report.failed[str(alert["alert_id"])].startswith("HTTP 404")


def test_an_unreachable_webhook_is_recorded(store: Store) -> None:
    alert = _open_one(store)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    notifier = Notifier(f"http://127.0.0.1:{port}/hook", sleep=lambda _: None, timeout=2)
    report = notifier.deliver_pending(store, now=at(72, 1))
    notifier.close()
    error = report.failed[str(alert["alert_id"])]
    assert error.startswith("ConnectError") and error.endswith("(after 3 attempts)")
    assert get_alert(store, str(alert["alert_id"]))["notify_error"] == error


def test_old_and_resolved_alerts_are_not_announced(store: Store) -> None:
    _open_one(store)
    with WebhookRecorder() as hook:
        notifier = Notifier(hook.url)
        assert notifier.deliver_pending(store, now=at(72) + timedelta(hours=25)).sent == []
        check(store, FEATURE_ONLY, now=at(104))  # no traffic: resolves
        assert notifier.deliver_pending(store, now=at(104, 1)).sent == []
        notifier.close()
    assert hook.requests == []
