"""Background jobs inside the collector: signal inference and retention on a schedule."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

from promptloop.server.ingest import Ingestor
from promptloop.signals.jobs import SignalJob, SignalRun
from promptloop.store.base import Store
from promptloop.store.retention import DeletionReport, apply_retention

log = logging.getLogger("promptloop.collector")


class SignalScheduler:
    """Runs the inference job every ``interval`` seconds and on demand, one run at a time."""

    def __init__(self, ingestor: Ingestor, job: SignalJob, interval: float) -> None:
        self._ingestor = ingestor
        self._job = job
        self._interval = interval
        self._run_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_run: dict[str, Any] | None = None
        self.last_error: str | None = None

    def start(self) -> None:
        if self._interval <= 0:
            return
        self._thread = threading.Thread(target=self._loop, name="promptloop-signals", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def run_now(self, *, full: bool = False) -> SignalRun:
        """Write what was acknowledged, then infer. Concurrent callers wait their turn."""
        with self._run_lock:
            self._ingestor.flush()
            report = self._job.run(full=full)
            self.last_run = report.as_dict()
            return report

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.run_now()
                self.last_error = None
            except Exception as exc:  # the schedule must survive one failed run
                self.last_error = str(exc)
                log.exception("signal inference failed; will retry next interval")


class RetentionScheduler:
    """Applies the retention rules every ``interval`` seconds (docs/retention.md).

    Runs after a flush, so rows acknowledged before the run are judged by the same rules.
    """

    def __init__(
        self, ingestor: Ingestor, store: Store, rules: dict[str, int], interval: float
    ) -> None:
        self._ingestor = ingestor
        self._store = store
        self.rules = dict(rules)
        self._interval = interval
        self._run_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_run: dict[str, Any] | None = None
        self.last_error: str | None = None

    def start(self) -> None:
        if self._interval <= 0 or not self.rules:
            return
        self._thread = threading.Thread(target=self._loop, name="promptloop-retention", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def run_now(
        self, rules: dict[str, int] | None = None, *, dry_run: bool = False
    ) -> DeletionReport:
        with self._run_lock:
            self._ingestor.flush()
            report = apply_retention(self._store, rules or self.rules, dry_run=dry_run)
            if not dry_run:
                self.last_run = {"at": datetime.now(UTC).isoformat(), **report.as_dict()}
            return report

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.run_now()
                self.last_error = None
            except Exception as exc:  # the schedule must survive one failed run
                self.last_error = str(exc)
                log.exception("retention failed; will retry next interval")
