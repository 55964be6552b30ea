"""One alert check: read the counts, run each stream's detector, write what changed.

A stream is one rule applied to one scope value (the regeneration rate of the feature
``summarize``, or of prompt version ``1.4.0`` of that feature). For each stream:

- with no alert open: the CUSUM runs over the monitored window (from the last resolution
  of that stream, if later) against the trailing baseline; an excursion above ``h`` with
  enough evidence opens an alert;
- with an alert open or acknowledged: the alert's own test (its baseline frozen when it
  opened) is re-run and its evidence updated; it resolves once the mirrored CUSUM shows the
  rate is back at the baseline, or when the stream has had no traffic for a whole window.

Everything is a function of the store and ``now``: the same ``now`` gives the same result.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import groupby
from typing import Any

import numpy as np

from promptloop.analytics.alerts import store as db
from promptloop.analytics.alerts.cusum import bucket_llr, cusum_path, llr_weights
from promptloop.analytics.alerts.detector import (
    Baseline,
    Counts,
    Design,
    Excursion,
    aligned,
    bucket_index,
    design_for,
    detect,
    empty_counts,
    returned,
)
from promptloop.analytics.alerts.messages import alert_message
from promptloop.analytics.alerts.rules import AlertRule, AlertSettings
from promptloop.analytics.stats import wilson
from promptloop.core.records import as_utc, utc_now
from promptloop.store.base import Store

METHOD = "bernoulli_cusum"
StreamKey = tuple[str | None, str | None]  # (feature, prompt_version)


@dataclass
class CheckReport:
    """What one check did: alerts opened, updated (still open) and resolved."""

    checked_at: datetime
    streams: int = 0
    opened: list[dict[str, Any]] = field(default_factory=list)
    updated: list[dict[str, Any]] = field(default_factory=list)
    resolved: list[dict[str, Any]] = field(default_factory=list)
    thin_baseline: int = 0  # streams skipped: too few baseline interactions to test
    duration_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked_at": self.checked_at,
            "streams": self.streams,
            "thin_baseline": self.thin_baseline,
            "opened": self.opened,
            "updated": self.updated,
            "resolved": self.resolved,
            "duration_ms": round(self.duration_ms, 1),
        }


BASELINE_STEP = timedelta(hours=1)


@dataclass(frozen=True)
class Windows:
    """The time windows of one rule's check, all derived from ``now``.

    The baseline ends at the hour the monitored window starts in (so it moves once an hour
    and can be kept between checks); its signals count if recorded within ``window`` after
    it ends, which is before the cutoff.
    """

    now: datetime
    cutoff: datetime  # interactions younger than the rule's settle time are not judged
    monitor_start: datetime
    baseline_start: datetime
    baseline_end: datetime

    @classmethod
    def of(cls, now: datetime, rule: AlertRule, settings: AlertSettings) -> Windows:
        cutoff = now - rule.settle_for
        monitor_start = cutoff - settings.window
        baseline_end = aligned(monitor_start, BASELINE_STEP)
        return cls(now, cutoff, monitor_start, baseline_end - settings.baseline, baseline_end)

    @property
    def baseline_recorded_before(self) -> datetime:
        return self.baseline_end + (self.cutoff - self.monitor_start)


@dataclass(frozen=True)
class Stream:
    rule: AlertRule
    key: StreamKey
    baseline: Baseline
    counts: Counts


def check(
    store: Store, settings: AlertSettings | None = None, *, now: datetime | None = None
) -> CheckReport:
    """Evaluate every rule on every stream once; open, update and resolve alerts."""
    settings = settings or AlertSettings()
    started = time.perf_counter()
    now = as_utc(now or utc_now())
    report = CheckReport(checked_at=now)
    starts = [Windows.of(now, rule, settings).monitor_start for rule in settings.rules]
    live = db.live_alerts(store, resolved_since=min(starts, default=now))
    # Rules on the same metric (and settle time) share one scan of the store.
    for (metric, _), group in groupby(sorted(settings.rules, key=_group_key), key=_group_key):
        rules = list(group)
        windows = Windows.of(now, rules[0], settings)
        base_rows, rows = _read(store, metric, windows, settings)
        for rule in rules:
            streams = build_streams(base_rows, rows, rule, windows, settings.bucket)
            _check_rule(store, rule, streams, live, windows, settings, report)
    report.duration_ms = (time.perf_counter() - started) * 1000
    return report


def _read(
    store: Store, metric: str, windows: Windows, settings: AlertSettings
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The baseline totals (kept for the hour) and the monitored window's bucket counts."""
    base_rows = db.baseline_rows(
        store,
        metric,
        start=windows.baseline_start,
        end=windows.baseline_end,
        recorded_before=windows.baseline_recorded_before,
    )
    rows = db.window_rows(
        store,
        metric,
        start=windows.monitor_start,
        cutoff=windows.cutoff,
        now=windows.now,
        bucket_seconds=int(settings.bucket.total_seconds()),
    )
    return base_rows, rows


def _group_key(rule: AlertRule) -> tuple[str, timedelta]:
    return rule.metric, rule.settle_for


# -- counts -> streams -------------------------------------------------------------------
def build_streams(
    base_rows: list[dict[str, Any]],
    rows: list[dict[str, Any]],
    rule: AlertRule,
    windows: Windows,
    bucket: timedelta,
) -> dict[StreamKey, Stream]:
    """Baseline totals and dense per-bucket counts for each scope value of ``rule``."""
    template = empty_counts(windows.monitor_start, windows.cutoff, bucket)
    first_bucket = bucket_index(template.origin, bucket)
    baseline: dict[StreamKey, list[int]] = defaultdict(lambda: [0, 0])
    for row in base_rows:
        key = _key(row, rule)
        if key is not None:
            baseline[key][0] += int(row["n"])
            baseline[key][1] += int(row["x"])
    series: dict[StreamKey, tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]] = {}
    for row in rows:
        key = _key(row, rule)
        if key is None:
            continue
        arrays = series.setdefault(key, (template.n.copy(), template.x.copy()))
        arrays[0][int(row["bucket"]) - first_bucket] += int(row["n"])
        arrays[1][int(row["bucket"]) - first_bucket] += int(row["x"])
    streams = {}
    for key in baseline.keys() | series.keys():
        n_arr, x_arr = series.get(key, (template.n.copy(), template.x.copy()))
        counts = Counts(template.origin, bucket, template.start, template.end, n_arr, x_arr)
        totals = baseline.get(key, [0, 0])
        base = Baseline(windows.baseline_start, windows.baseline_end, totals[0], totals[1])
        streams[key] = Stream(rule, key, base, counts)
    return streams


def _key(row: dict[str, Any], rule: AlertRule) -> StreamKey | None:
    if rule.scope == "feature":
        return (row["feature"], None) if row["feature"] is not None else None
    return (row["feature"], row["prompt_version"]) if row["prompt_version"] is not None else None


# -- one rule ----------------------------------------------------------------------------
def _check_rule(
    store: Store,
    rule: AlertRule,
    streams: dict[StreamKey, Stream],
    live: list[dict[str, Any]],
    windows: Windows,
    settings: AlertSettings,
    report: CheckReport,
) -> None:
    mine = [alert for alert in live if alert["rule_id"] == rule.rule_id]
    active = {_alert_key(a): a for a in mine if a["status"] != "resolved"}
    last_resolved: dict[StreamKey, datetime] = {}
    for alert in mine:
        if alert["status"] == "resolved":
            key = _alert_key(alert)
            last_resolved[key] = max(
                alert["resolved_at"], last_resolved.get(key, alert["resolved_at"])
            )
    for key in sorted(streams.keys() | active.keys(), key=lambda k: (k[0] or "", k[1] or "")):
        stream = streams.get(key) or _quiet_stream(rule, key, windows, settings)
        report.streams += 1
        if key in active:
            _follow(store, active[key], stream, windows, settings, report)
        else:
            _detect(store, stream, last_resolved.get(key), windows, settings, report)


def _alert_key(alert: dict[str, Any]) -> StreamKey:
    version = alert["prompt_version"] if alert["scope_kind"] == "prompt_version" else None
    return alert["feature"], version


def _quiet_stream(
    rule: AlertRule, key: StreamKey, windows: Windows, settings: AlertSettings
) -> Stream:
    """A stream with no interactions at all in the windows (a retired prompt version)."""
    counts = empty_counts(windows.monitor_start, windows.cutoff, settings.bucket)
    return Stream(rule, key, Baseline(windows.baseline_start, windows.baseline_end, 0, 0), counts)


def _detect(
    store: Store,
    stream: Stream,
    resolved_at: datetime | None,
    windows: Windows,
    settings: AlertSettings,
    report: CheckReport,
) -> None:
    design = design_for(stream.baseline, stream.rule, settings)
    if design is None:
        report.thin_baseline += 1
        return
    # After a resolution the CUSUM starts afresh: the old excursion must not re-open it.
    start = stream.counts.index_at(resolved_at) if resolved_at else 0
    found = detect(stream.counts, design, settings, start)
    if found is None:
        return
    row = _new_alert(stream, design, found, start, windows, settings)
    db.insert_alert(store, row)
    report.opened.append(presented(row))


def _new_alert(
    stream: Stream,
    design: Design,
    found: Excursion,
    start: int,
    windows: Windows,
    settings: AlertSettings,
) -> dict[str, Any]:
    feature, version = stream.key
    since = stream.counts.bucket_start(found.first)
    evidence = _evidence(stream, design, windows, settings, start, found.path)
    evidence["excursion"] = found.as_dict(stream.counts)
    evidence["observed"] = _observed(since, found.n, found.events)
    return {
        "alert_id": db.alert_id_for(stream.rule.rule_id, feature, version, since),
        "rule_id": stream.rule.rule_id,
        "metric": stream.rule.metric,
        "scope_kind": stream.rule.scope,
        "feature": feature,
        "prompt_version": version,
        "status": "open",
        "method": METHOD,
        "opened_at": windows.now,
        "window_start": since,
        "window_end": windows.cutoff,
        "baseline_rate": stream.baseline.rate,
        "baseline_n": stream.baseline.n,
        "observed_rate": found.events / found.n,
        "observed_n": found.n,
        "statistic": found.statistic,
        "threshold": design.h,
        "evidence": evidence,
    }


def _follow(
    store: Store,
    alert: dict[str, Any],
    stream: Stream,
    windows: Windows,
    settings: AlertSettings,
    report: CheckReport,
) -> None:
    """Update an open alert's evidence with its own (frozen) test, or resolve it."""
    design = Design(**{k: float(v) for k, v in alert["evidence"]["design"].items() if k in _DESIGN})
    changes = _updated(alert, stream, design, windows, settings)
    resolution = _resolution(alert, stream.counts, design, settings)
    if resolution is not None:
        changes["evidence"]["resolution"] = resolution
        changes.update(status="resolved", resolved_at=windows.now)
    db.update_alert(store, alert["alert_id"], changes)
    target = report.resolved if resolution is not None else report.updated
    target.append(presented({**alert, **changes}))


def _updated(
    alert: dict[str, Any],
    stream: Stream,
    design: Design,
    windows: Windows,
    settings: AlertSettings,
) -> dict[str, Any]:
    """The alert's columns and evidence after re-running its test up to the cutoff."""
    counts = stream.counts
    start = counts.index_at(alert["window_start"])
    path = cusum_path(bucket_llr(counts.n[start:], counts.x[start:], design.p0, design.p1))
    n, events = counts.totals(start)
    evidence = dict(alert["evidence"])
    evidence.update(_evidence(stream, design, windows, settings, start, path, frozen=evidence))
    evidence["excursion"] = {
        **evidence.get("excursion", {}),
        "statistic": float(path.max()) if len(path) else 0.0,
        "current": float(path[-1]) if len(path) else 0.0,
    }
    evidence["observed"] = _observed(max(alert["window_start"], counts.start), n, events)
    return {
        "window_end": windows.cutoff,
        "observed_rate": events / n if n else None,
        "observed_n": n,
        "statistic": evidence["excursion"]["statistic"],
        "evidence": evidence,
    }


_DESIGN = ("p0", "p1", "h", "arl0")


def _resolution(
    alert: dict[str, Any], counts: Counts, design: Design, settings: AlertSettings
) -> dict[str, Any] | None:
    if int(counts.n.sum()) == 0:
        return {"reason": "no_traffic", "since": counts.start}
    alarm_at = alert["evidence"].get("excursion", {}).get("alarm_at")
    since = as_utc(datetime.fromisoformat(alarm_at)) if alarm_at else alert["opened_at"]
    back = returned(counts, design, settings, counts.index_at(since))
    if back is None:
        return None
    return {
        "reason": "returned_to_baseline",
        "since": max(since, counts.start),
        "at": counts.bucket_end(back.at),
        "statistic": back.statistic,
        "threshold": design.h,
        **_observed(since, back.n, back.events),
    }


# -- evidence ----------------------------------------------------------------------------
def _evidence(
    stream: Stream,
    design: Design,
    windows: Windows,
    settings: AlertSettings,
    start: int,
    path: np.ndarray[Any, Any],
    frozen: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything a reader needs to redo the test by hand."""
    rule, counts = stream.rule, stream.counts
    feature, version = stream.key
    a, b = llr_weights(design.p0, design.p1)
    baseline = (frozen or {}).get("baseline") or {
        "start": stream.baseline.start,
        "end": stream.baseline.end,
        "n": stream.baseline.n,
        "events": stream.baseline.events,
        "rate": stream.baseline.rate,
    }
    return {
        "method": METHOD,
        "metric": rule.metric,
        "label": rule.label,
        "rule_id": rule.rule_id,
        "scope": {"kind": rule.scope, "feature": feature, "prompt_version": version},
        "window": {
            "start": counts.start,
            "end": counts.end,
            "now": windows.now,
            "bucket_seconds": int(counts.bucket.total_seconds()),
            "settle_seconds": int(rule.settle_for.total_seconds()),
        },
        "baseline": baseline,
        "design": {
            **design.as_dict(),
            "lift": rule.lift,
            "arl0_target": settings.arl0,
            "baseline_confidence": settings.baseline_confidence,
        },
        "llr": {"event": a, "no_event": -b},
        "min_evidence": {
            "interactions": settings.min_interactions,
            "events": settings.min_events,
        },
        "series": _series(counts, start, path),
    }


def _observed(since: datetime, n: int, events: int) -> dict[str, Any]:
    rate = wilson(events, n)
    return {
        "since": since,
        "n": n,
        "events": events,
        "rate": rate.rate,
        "low": rate.low,
        "high": rate.high,
    }


def _series(counts: Counts, start: int, path: np.ndarray[Any, Any]) -> dict[str, Any]:
    """The buckets the test ran on, column-wise: bucket k starts ``k * bucket_seconds``
    after ``origin`` (the first one is clipped to the window); ``cusum`` is the statistic
    after each bucket, null before the CUSUM started."""
    cusum: list[float | None] = [None] * start + [round(float(v), 4) for v in path]
    return {
        "origin": counts.origin,
        "bucket_seconds": int(counts.bucket.total_seconds()),
        "n": counts.n.tolist(),
        "events": counts.x.tolist(),
        "cusum": cusum,
    }


def presented(row: dict[str, Any], *, series: bool = False) -> dict[str, Any]:
    """An alert as the API returns it: its columns and the human sentence.

    The per-bucket series is the bulk of the evidence: only a single alert's view has it.
    """
    # As stored: the evidence of a new alert reads the same as one fetched from the store.
    evidence = db.from_json(db.to_json(row.get("evidence") or {}))
    if not series:
        evidence.pop("series", None)
    return {**row, "evidence": evidence, "message": alert_message(row)}
