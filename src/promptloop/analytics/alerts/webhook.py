"""Tell a webhook about each new alert: a JSON POST, retried with backoff, outcome recorded.

The alerts table is the outbox: an alert with ``notified_at`` null is still to be sent, so
a delivery that failed (``notify_error`` says why) is tried again on the next run, and a
collector restart loses nothing. Deliveries run on the alert scheduler's delivery thread,
never on the ingest path. The body is Slack-compatible (``text``) and carries the alert::

    {"event": "alert.opened", "text": "Regeneration rate on summarize rose ...",
     "alert": {"alert_id": ..., "evidence": {...}, ...}}
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from promptloop.analytics.alerts import store as db
from promptloop.analytics.alerts.check import presented
from promptloop.core.records import as_utc, utc_now
from promptloop.store.base import Store

log = logging.getLogger("promptloop.alerts")

# Alerts older than this are not announced any more (e.g. when a webhook is set up later).
NOTIFY_WITHIN = timedelta(hours=24)
_RETRYABLE = {408, 425, 429, 500, 502, 503, 504}


@dataclass
class Delivery:
    sent: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "failed": self.failed}


class Notifier:
    """POSTs new alerts to ``url``: ``attempts`` tries, waiting ``backoff * 2**k`` between."""

    def __init__(
        self,
        url: str,
        *,
        attempts: int = 3,
        backoff: float = 1.0,
        timeout: float = 5.0,
        client: httpx.Client | None = None,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"alert webhook {url!r} is not an http:// or https:// URL")
        self.url = url
        self.attempts = max(attempts, 1)
        self.backoff = backoff
        self._client = client or httpx.Client(timeout=timeout)
        self._cancelled = threading.Event()  # set on shutdown: stop waiting between tries
        # Waiting returns True when cancelled; tests pass a recorder instead of real waits.
        self._sleep = sleep or self._cancelled.wait

    def cancel(self) -> None:
        self._cancelled.set()

    def close(self) -> None:
        self._client.close()

    def deliver_pending(self, store: Store, *, now: datetime | None = None) -> Delivery:
        """Send every alert not yet announced (oldest first) and record each outcome."""
        now = as_utc(now or utc_now())
        report = Delivery()
        for alert in pending(store, now - NOTIFY_WITHIN):
            if self._cancelled.is_set():
                break
            error = self._send(payload(alert))
            if error is None:
                db.update_alert(
                    store, alert["alert_id"], {"notified_at": utc_now(), "notify_error": None}
                )
                report.sent.append(alert["alert_id"])
            else:
                db.update_alert(store, alert["alert_id"], {"notify_error": error})
                report.failed[alert["alert_id"]] = error
                log.warning("alert webhook failed for %s: %s", alert["alert_id"], error)
        return report

    def _send(self, body: dict[str, Any]) -> str | None:
        """None when delivered, else the last error (after retrying what is worth it)."""
        error = "not sent"
        content = db.to_json(body)
        headers = {"Content-Type": "application/json", "User-Agent": "promptloop-alerts"}
        for attempt in range(self.attempts):
            if attempt and self._sleep(self.backoff * 2 ** (attempt - 1)):
                break
            try:
                response = self._client.post(self.url, content=content, headers=headers)
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
                continue
            if response.is_success:
                return None
            error = f"HTTP {response.status_code}: {response.text.strip()[:200]}"
            if response.status_code not in _RETRYABLE:
                break
        return f"{error} (after {attempt + 1} attempt{'s' if attempt else ''})"


def pending(store: Store, since: datetime) -> list[dict[str, Any]]:
    rows = store.fetch_all(
        "SELECT alert_id FROM alerts WHERE notified_at IS NULL AND status <> 'resolved'"
        " AND opened_at >= :since ORDER BY opened_at, alert_id",
        {"since": since},
    )
    return [db.get_alert(store, row["alert_id"]) for row in rows]


def payload(alert: dict[str, Any]) -> dict[str, Any]:
    shown = presented(alert)
    return {"event": "alert.opened", "text": shown["message"], "alert": shown}
