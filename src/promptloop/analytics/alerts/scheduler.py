"""Alerts inside the collector: a check every ``interval`` seconds and on demand.

Checks run one at a time. Each scheduled check first runs ``prepare`` (the collector passes
its signal job, so regenerations inferred from the latest traffic count) and every check
flushes the ingest buffer first, so what the collector acknowledged is judged. Webhook
deliveries run on their own thread: a slow or dead webhook delays neither checks nor ingest.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from promptloop.analytics.alerts.check import CheckReport, check
from promptloop.analytics.alerts.rules import AlertSettings
from promptloop.analytics.alerts.webhook import Notifier
from promptloop.store.base import Store

log = logging.getLogger("promptloop.collector")


class AlertScheduler:
    def __init__(
        self,
        store: Store,
        settings: AlertSettings,
        interval: float,
        *,
        flush: Callable[[], object] | None = None,
        prepare: Callable[[], object] | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self._store = store
        self._settings = settings
        self._interval = interval
        self._flush = flush
        self._prepare = prepare
        self.notifier = notifier
        self._run_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Delivery requests and completions, counted, so callers can wait for a round.
        self._delivery = threading.Condition()
        self._requested = 0
        self._completed = 0
        self._deliverer: threading.Thread | None = None
        self.last_run: dict[str, Any] | None = None
        self.last_error: str | None = None
        self.last_delivery: dict[str, Any] | None = None
        self._as_of: datetime | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        if self._interval <= 0:
            return
        self._thread = threading.Thread(target=self._loop, name="promptloop-alerts", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self.notifier is not None:
            self.notifier.cancel()
        with self._delivery:
            self._delivery.notify_all()
        for thread in (self._thread, self._deliverer):
            if thread is not None:
                thread.join(timeout=60)
        if self.notifier is not None:
            self.notifier.close()

    # -- checks ---------------------------------------------------------------------------
    def run_now(self, *, now: datetime | None = None) -> CheckReport:
        """Flush, check, and hand new alerts to the webhook. Concurrent callers queue."""
        with self._run_lock:
            if self._flush is not None:
                self._flush()
            report = check(self._store, self._settings, now=now)
            self.last_run = _summary(report)
            # A replayed check (an explicit now) announces what it opened as of that time.
            self._as_of = now
        # Every run, not only one that opened something: failed deliveries are retried.
        self.request_delivery()
        return report

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._prepare_quietly()
            try:
                self.run_now()
                self.last_error = None
            except Exception as exc:  # the schedule must survive one failed check
                self.last_error = str(exc)
                log.exception("alert check failed; will retry next interval")

    def _prepare_quietly(self) -> None:
        if self._prepare is None:
            return
        try:
            self._prepare()
        except Exception:  # stale signals are better than no alerts
            log.exception("the step before the alert check failed; checking anyway")

    # -- webhook deliveries ----------------------------------------------------------------
    def request_delivery(self) -> None:
        """Wake the delivery thread (started on first use) to send what is pending."""
        if self.notifier is None or self._stop.is_set():
            return
        with self._delivery:
            self._requested += 1
            if self._deliverer is None or not self._deliverer.is_alive():
                self._deliverer = threading.Thread(
                    target=self._deliver_loop, name="promptloop-alert-webhook", daemon=True
                )
                self._deliverer.start()
            self._delivery.notify_all()

    def wait_delivered(self, timeout: float | None = None) -> bool:
        """Block until every delivery requested so far has been attempted."""
        with self._delivery:
            target = self._requested
            return self._delivery.wait_for(lambda: self._completed >= target, timeout)

    def _deliver_loop(self) -> None:
        assert self.notifier is not None
        while True:
            with self._delivery:
                self._delivery.wait_for(
                    lambda: self._requested > self._completed or self._stop.is_set()
                )
                if self._stop.is_set():
                    return
                target = self._requested
            try:
                delivery = self.notifier.deliver_pending(self._store, now=self._as_of)
                self.last_delivery = delivery.as_dict()
            except Exception:
                log.exception("alert webhook delivery failed; will retry after the next check")
            with self._delivery:
                self._completed = target
                self._delivery.notify_all()


def _summary(report: CheckReport) -> dict[str, Any]:
    counts = {name: len(getattr(report, name)) for name in ("opened", "updated", "resolved")}
    return {**report.as_dict(), **counts}
