#!/usr/bin/env python3
"""Alert benchmark (issue 5, items 8 and 9): time to alert, false alerts, check latency.

    .venv/bin/python benchmarks/alerts.py             # full (~5-10 min)
    .venv/bin/python benchmarks/alerts.py --quick     # small sizes (~1-2 min)

1. Detection delay. Simulated Bernoulli traffic (seeded numpy) on one stream at
   ``--per-hour`` interactions an hour: 8 days at 8% regenerations (the trailing baseline
   and a monitored day), then 12%. The detector runs as the collector runs it, on a schedule
   every ``--check-every`` interactions, on the real code path below SQL (bucket counts ->
   ``design_for`` -> ``detect``, from :mod:`promptloop.analytics.alerts`), with the default
   settings (24 h window, 7 d baseline, 5 min buckets, 2 min settle, ARL0 target 1M, lift
   50%). Reported: interactions from the change to the check that opens the alert (median,
   p90 over ``--delay-reps`` replications; the change falls at a random point of a bucket
   and of the check cycle). Also at low traffic (100/h).
2. False alerts. The same stream with no change, ``--fa-interactions`` in all, with the full
   alert life cycle (an opened alert is followed and resolves when the rate is back; the
   CUSUM restarts after it). Reported: alerts per 100,000 interactions with an exact
   Poisson 95% interval. Target < 1.
3. ARL0 check. The threshold comes from a Markov-chain ARL (a lower bound by construction):
   simulated run lengths of the plain per-interaction CUSUM must be at least the chain's, and
   the whole pipeline run at a low design ARL0 (20k) must alarm no more often than designed.
4. ``check()`` latency on the 1M-interaction / 3M-feedback DuckDB store that
   benchmarks/queries.py builds (reused from its cache, on a copy: the check writes alerts).

Prints one JSON line on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

C.add_repo_root()

from promptloop.analytics.alerts import DEFAULT_RULES, AlertRule, AlertSettings, check  # noqa: E402
from promptloop.analytics.alerts.cusum import average_run_length, llr_weights, threshold  # noqa: E402
from promptloop.analytics.alerts.detector import (  # noqa: E402
    Baseline,
    Counts,
    Design,
    design_for,
    detect,
    returned,
)

P0, P1 = 0.08, 0.12
TARGET_DELAY = 2000
TARGET_FALSE_PER_100K = 1.0
TARGET_CHECK_MS = 300.0
SIM_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)  # aligned to every bucket size used
RULE = AlertRule("regeneration", "feature")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="small sizes")
    ap.add_argument("--per-hour", type=float, default=1000.0, help="interactions per hour")
    ap.add_argument("--delay-reps", type=int, default=None, help="default 500 (quick 100)")
    ap.add_argument("--fa-interactions", type=int, default=None, help="default 20M (quick 2M)")
    ap.add_argument("--check-every", default="100,500", help="interactions between checks")
    ap.add_argument("--seed", type=int, default=20261126)
    ap.add_argument("--interactions", type=int, default=None, help="store size for timing")
    ap.add_argument("--feedback", type=int, default=None)
    ap.add_argument("--runs", type=int, default=15, help="timed check() runs")
    ap.add_argument("--no-store", action="store_true", help="skip the check() timing")
    ap.add_argument(
        "--check-only", action="store_true", help="only the check() timing on the 1M store"
    )
    ap.add_argument("--rebuild", action="store_true", help="rebuild the queries store")
    ap.add_argument(
        "--cache-dir", default=str(Path(tempfile.gettempdir()) / "promptloop-bench-cache")
    )
    a = ap.parse_args(argv)
    a.delay_reps = a.delay_reps or (100 if a.quick else 500)
    a.fa_interactions = a.fa_interactions or (2_000_000 if a.quick else 20_000_000)
    a.interactions = a.interactions or (100_000 if a.quick else 1_000_000)
    a.feedback = a.feedback or (300_000 if a.quick else 3_000_000)
    a.every = [int(v) for v in a.check_every.split(",") if v.strip()]
    return a


# ---------------------------------------------------------------- a simulated stream


@dataclass
class Stream:
    """Interaction ``i`` happens ``i / rate`` seconds after SIM_EPOCH; ``flags`` says which
    got the signal. Window counts come from cumulative sums, like SQL over a time range."""

    flags: np.ndarray
    per_hour: float

    def __post_init__(self) -> None:
        self.rate = self.per_hour / 3600.0
        self.cum = np.concatenate(([0], np.cumsum(self.flags, dtype=np.int64)))

    def index(self, seconds: np.ndarray | float) -> np.ndarray:
        """How many interactions happened before ``seconds``."""
        found = np.ceil(np.asarray(seconds) * self.rate - 1e-9).astype(np.int64)
        return np.clip(found, 0, len(self.flags))

    def seconds_at(self, interaction: int) -> float:
        return interaction / self.rate

    def observe(self, now: float, settings: AlertSettings) -> tuple[Baseline, Counts]:
        """What ``check`` reads at ``now``: baseline totals and the window's bucket counts."""
        bucket = settings.bucket.total_seconds()
        cutoff = now - RULE.settle_for.total_seconds()
        start = cutoff - settings.window.total_seconds()
        origin = math.floor(start / bucket) * bucket
        edges = origin + bucket * np.arange(math.ceil((cutoff - origin) / bucket) + 1)
        edges[0], edges[-1] = start, cutoff
        at = self.index(edges)
        counts = Counts(
            SIM_EPOCH + timedelta(seconds=origin),
            settings.bucket,
            SIM_EPOCH + timedelta(seconds=start),
            SIM_EPOCH + timedelta(seconds=cutoff),
            np.diff(at),
            np.diff(self.cum[at]),
        )
        # the baseline ends at the hour the window starts in, as in check()
        end = math.floor(start / 3600) * 3600
        b0, b1 = self.index(np.array([end - settings.baseline.total_seconds(), end]))
        baseline = Baseline(
            SIM_EPOCH + timedelta(seconds=end) - settings.baseline,
            SIM_EPOCH + timedelta(seconds=end),
            int(b1 - b0),
            int(self.cum[b1] - self.cum[b0]),
        )
        return baseline, counts


def history_needed(settings: AlertSettings, per_hour: float) -> int:
    """Interactions before the first check: a full baseline plus a full window."""
    hours = (settings.baseline + settings.window).total_seconds() / 3600
    return math.ceil(hours * per_hour) + 1


# ---------------------------------------------------------------- 1. detection delay


def detection_delay(
    settings: AlertSettings, per_hour: float, every: int, reps: int, seed: int
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    prefix = history_needed(settings, per_hour)
    horizon = 20_000
    delays: list[int] = []
    missed = early = 0
    for _ in range(reps):
        change = prefix + int(rng.integers(0, max(1, int(per_hour))))
        flags = np.concatenate((rng.random(change) < P0, rng.random(horizon + every) < P1))
        stream = Stream(flags, per_hour)
        if _alarms(stream, change, settings):
            early += 1  # a false alert before the change: not a detection
            continue
        found = _first_alarm(
            stream, change, change + int(rng.integers(1, every + 1)), every, horizon, settings
        )
        if found is None:
            missed += 1
        else:
            delays.append(found - change)
    return _delay_summary(delays, missed, early, reps, every, per_hour)


def _alarms(stream: Stream, upto: int, settings: AlertSettings) -> bool:
    baseline, counts = stream.observe(stream.seconds_at(upto), settings)
    design = design_for(baseline, RULE, settings)
    return design is not None and detect(counts, design, settings) is not None


def _first_alarm(
    stream: Stream, change: int, first: int, every: int, horizon: int, settings: AlertSettings
) -> int | None:
    for k in range(first, change + horizon + 1, every):
        if _alarms(stream, k, settings):
            return k
    return None


def _delay_summary(
    delays: list[int], missed: int, early: int, reps: int, every: int, per_hour: float
) -> dict[str, Any]:
    ordered = sorted(delays)
    pct = (lambda q: int(np.percentile(ordered, q))) if ordered else (lambda q: None)
    out = {
        "check_every": every,
        "per_hour": per_hour,
        "reps": reps,
        "detected": len(delays),
        "missed_within_20000": missed,
        "false_alert_before_change": early,
        "median": pct(50),
        "p90": pct(90),
        "p99": pct(99),
        "mean": round(statistics.fmean(ordered), 1) if ordered else None,
        "max": max(ordered) if ordered else None,
        "median_minutes": None,
    }
    if ordered:
        out["median_minutes"] = round(out["median"] / per_hour * 60, 1)
    out["pass"] = out["median"] is not None and out["median"] <= TARGET_DELAY
    return out


# ---------------------------------------------------------------- 2. false alerts


@dataclass
class Lifecycle:
    """One stream's alert state, as check() keeps it in the alerts table."""

    design: Design | None = None
    alarm_at: datetime | None = None
    resolved_at: datetime | None = None
    opened: int = 0

    def step(self, stream: Stream, at: int, settings: AlertSettings) -> None:
        now = stream.seconds_at(at)
        baseline, counts = stream.observe(now, settings)
        if self.design is not None and self.alarm_at is not None:
            back = returned(counts, self.design, settings, counts.index_at(self.alarm_at))
            if back is not None or int(counts.n.sum()) == 0:
                self.design, self.resolved_at = None, SIM_EPOCH + timedelta(seconds=now)
            return
        design = design_for(baseline, RULE, settings)
        if design is None:
            return
        start = counts.index_at(self.resolved_at) if self.resolved_at else 0
        found = detect(counts, design, settings, start)
        if found is not None:
            self.opened += 1
            self.design, self.alarm_at = design, counts.bucket_end(found.alarm)


def false_alerts(
    settings: AlertSettings, per_hour: float, every: int, total: int, seed: int, chunk: int
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    prefix = history_needed(settings, per_hour)
    alerts = watched = 0
    t0 = time.monotonic()
    while watched < total:
        size = min(chunk, total - watched)
        stream = Stream(rng.random(prefix + size) < P0, per_hour)
        life = Lifecycle()
        for k in range(prefix, prefix + size, every):
            life.step(stream, k, settings)
        alerts += life.opened
        watched += size
        C.log(
            f"    no change: {watched:,} interactions, {alerts} alerts "
            f"({time.monotonic() - t0:.0f} s)"
        )
    low, high = _poisson_interval(alerts)
    scale = 100_000 / watched
    return {
        "interactions": watched,
        "check_every": every,
        "alerts": alerts,
        "per_100k": round(alerts * scale, 4),
        "per_100k_ci95": [round(low * scale, 4), round(high * scale, 4)],
        "interactions_per_alert": round(watched / alerts) if alerts else None,
    }


def _poisson_interval(count: int) -> tuple[float, float]:
    """Exact (Garwood) 95% interval for a Poisson count."""
    from scipy.stats import chi2

    low = 0.0 if count == 0 else float(chi2.ppf(0.025, 2 * count) / 2)
    return low, float(chi2.ppf(0.975, 2 * count + 2) / 2)


# ---------------------------------------------------------------- 3. ARL0 check


def simulated_run_lengths(p0: float, p1: float, h: float, reps: int, seed: int) -> np.ndarray:
    """The plain per-interaction CUSUM, many paths at once, until each crosses h."""
    a, b = llr_weights(p0, p1)
    rng = np.random.default_rng(seed)
    s = np.zeros(reps)
    lengths = np.zeros(reps, dtype=np.int64)
    alive = np.ones(reps, dtype=bool)
    t = 0
    while alive.any():
        t += 1
        steps = np.where(rng.random(reps) < p0, a, -b)
        s = np.where(alive, np.maximum(0.0, s + steps), s)
        crossed = alive & (s > h)
        lengths[crossed] = t
        alive &= ~crossed
    return lengths


def arl_validation(reps: int, seed: int) -> list[dict[str, Any]]:
    rows = []
    for target in (20_000, 100_000):
        h = threshold(P0, P1, target)
        chain = average_run_length(P0, P0, P1, h)
        lengths = simulated_run_lengths(P0, P1, h, reps, seed + target)
        mean = float(lengths.mean())
        se = float(lengths.std(ddof=1) / math.sqrt(reps))
        rows.append(
            {
                "design_arl0": target,
                "h": h,
                "chain_arl0": round(chain),
                "simulated_mean_run_length": round(mean),
                "simulated_se": round(se),
                "reps": reps,
                "chain_is_lower_bound": chain <= mean + 2 * se,
            }
        )
        C.log(f"    ARL0 {target:,}: h {h}, chain {chain:,.0f}, simulated {mean:,.0f} ± {se:,.0f}")
    return rows


# ---------------------------------------------------------------- 4. check() latency


def check_latency(a: argparse.Namespace) -> dict[str, Any]:
    try:
        import queries as Q  # benchmarks/queries.py: its 1M store builder and cache
    except SystemExit as exc:  # the peers folder it imports is missing
        return {"error": f"benchmarks/queries.py unavailable: {exc}"}
    from promptloop.store import open_store

    path, meta, cached = Q.cached_store(a, a.interactions, a.feedback)
    end = datetime.fromisoformat(meta["end"])
    with tempfile.TemporaryDirectory(prefix="promptloop-alerts-") as folder:
        copy = Path(folder) / "store.duckdb"
        shutil.copyfile(path, copy)
        store = open_store(f"duckdb:///{copy}")
        try:
            out: dict[str, Any] = {"store": {**meta, "cached": cached}}
            out["as_built"] = _time_layout(store, end, a.runs)
            # The generator writes feedback in random time order, so no row group of it can
            # be skipped by time; the collector appends events as they arrive. Measure that
            # layout too (same rows, feedback sorted by timestamp).
            C.log("    feedback in arrival order")
            store.execute(
                "CREATE TABLE feedback_sorted AS SELECT * FROM feedback_events ORDER BY timestamp"
            )
            store.execute("DROP TABLE feedback_events")
            store.execute("ALTER TABLE feedback_sorted RENAME TO feedback_events")
            store.execute("CHECKPOINT")
            out["arrival_order"] = _time_layout(store, end, a.runs)
        finally:
            store.close()
    return out


def _time_layout(store: Any, end: datetime, runs: int) -> dict[str, Any]:
    store.execute("DELETE FROM alerts")
    every_metric = AlertSettings(
        rules=tuple(
            AlertRule(metric, scope)
            for metric in (
                "regeneration",
                "thumbs_down",
                "edit",
                "abandonment",
                "follow_up",
                "negative",
            )
            for scope in ("feature", "prompt_version")
        )
    )
    return {
        "default_rules": _time_checks(store, AlertSettings(rules=DEFAULT_RULES), end, runs),
        "all_metrics_12_rules": _time_checks(store, every_metric, end, max(runs // 3, 3)),
    }


def _time_checks(store: Any, settings: AlertSettings, end: datetime, runs: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    first = check(store, settings, now=end)
    cold = (time.perf_counter() - t0) * 1000
    walls, cpus = [], []
    for i in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        report = check(store, settings, now=end + timedelta(minutes=5 * (i + 1)))
        walls.append((time.perf_counter() - t0) * 1000)
        cpus.append((time.process_time() - c0) * 1000)
    median = statistics.median(walls)
    result = {
        "rules": len(settings.rules),
        "streams": report.streams,
        "opened_first_run": len(first.opened),
        "open_after": len(report.updated) + len(report.opened),
        "cold_ms": round(cold, 1),
        "runs": runs,
        "median_ms": round(median, 1),
        "p95_ms": round(float(np.percentile(walls, 95)), 1),
        "min_ms": round(min(walls), 1),
        "median_cpu_ms": round(statistics.median(cpus), 1),
        "target_ms": TARGET_CHECK_MS,
        "pass": median <= TARGET_CHECK_MS,
    }
    C.log(
        f"    {len(settings.rules)} rules, {report.streams} streams: median {median:.0f} ms "
        f"(cpu {result['median_cpu_ms']:.0f} ms), cold {cold:.0f} ms"
    )
    return result


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    a = parse(argv)
    settings = AlertSettings(rules=(RULE,))
    started = time.monotonic()
    result: dict[str, Any] = {
        "bench": "alerts",
        "args": {k: v for k, v in vars(a).items() if k != "every"},
        "settings": {
            "window_hours": settings.window.total_seconds() / 3600,
            "baseline_days": settings.baseline.days,
            "bucket_minutes": settings.bucket.total_seconds() / 60,
            "settle_minutes": RULE.settle_for.total_seconds() / 60,
            "arl0_target": settings.arl0,
            "lift": RULE.lift,
            "min_interactions": settings.min_interactions,
            "min_events": settings.min_events,
            "baseline_confidence": settings.baseline_confidence,
        },
        "change": {"from": P0, "to": P1},
    }
    if a.check_only:
        C.log("check() on the queries store")
        result["check_latency"] = check_latency(a)
        result["seconds"] = round(time.monotonic() - started, 1)
        C.emit(result)
        return
    ideal = Design.for_rates(P0, RULE.lift, settings.arl0)
    result["design_at_true_rate"] = {
        **ideal.as_dict(),
        "arl1_chain_from_zero": round(average_run_length(P1, ideal.p0, ideal.p1, ideal.h)),
    }
    C.log("detection delay")
    delays: dict[str, Any] = {}
    for every in a.every:
        key = f"every_{every}"
        delays[key] = detection_delay(settings, a.per_hour, every, a.delay_reps, a.seed + every)
        C.log(f"    every {every}: median {delays[key]['median']}, p90 {delays[key]['p90']}")
    low = detection_delay(settings, 100.0, a.every[0], max(a.delay_reps // 5, 20), a.seed + 7)
    delays["low_traffic_100_per_hour"] = low
    C.log(f"    100/h: median {low['median']}, p90 {low['p90']}")
    result["delay"] = delays
    C.log("false alerts without change")
    chunk = 1_000_000 if a.quick else 2_000_000
    fa = false_alerts(settings, a.per_hour, a.every[0], a.fa_interactions, a.seed + 1, chunk)
    fa["target_per_100k"] = TARGET_FALSE_PER_100K
    fa["pass"] = fa["per_100k"] < TARGET_FALSE_PER_100K
    result["false_alerts"] = fa
    C.log("ARL0: the chain against simulation")
    result["arl0_validation"] = arl_validation(500 if a.quick else 2000, a.seed + 2)
    low_design = replace(settings, arl0=20_000.0)
    pipeline = false_alerts(
        low_design,
        a.per_hour,
        a.every[0],
        1_000_000 if a.quick else 4_000_000,
        a.seed + 3,
        chunk,
    )
    pipeline["design_per_100k_at_most"] = 100_000 / low_design.arl0
    pipeline["pass"] = pipeline["per_100k"] <= pipeline["design_per_100k_at_most"]
    result["pipeline_at_design_arl0_20k"] = pipeline
    if not a.no_store:
        C.log("check() on the queries store")
        result["check_latency"] = check_latency(a)
    try:
        _, peerlib = C.import_peers()
        result["machine"] = peerlib.machine_info()
    except SystemExit:
        pass
    result["seconds"] = round(time.monotonic() - started, 1)
    C.emit(result)


if __name__ == "__main__":
    main()
