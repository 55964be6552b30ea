"""The alert statistics against scipy and against simulation, on known data."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from scipy.stats import binom, geom
from statsmodels.stats.proportion import proportion_confint

from promptloop.analytics.alerts.cusum import (
    alternative_rate,
    average_run_length,
    bucket_llr,
    ceil_significant,
    cusum_path,
    llr_weights,
    reference_rate,
    run_starts,
    threshold,
    wilson_upper,
)
from promptloop.analytics.alerts.detector import Counts, Design, detect, returned
from promptloop.analytics.alerts.rules import AlertRule, AlertSettings, parse_rules

T0 = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.mark.parametrize(("x", "n"), [(0, 10), (3, 40), (12, 100), (100, 100), (250, 2310)])
def test_bucket_llr_is_the_binomial_log_likelihood_ratio(x: int, n: int) -> None:
    expected = binom.logpmf(x, n, 0.12) - binom.logpmf(x, n, 0.08)
    assert bucket_llr([n], [x], 0.08, 0.12)[0] == pytest.approx(expected, rel=1e-9, abs=1e-9)


def test_llr_weights() -> None:
    a, b = llr_weights(0.08, 0.12)
    assert a == pytest.approx(math.log(1.5))
    assert b == pytest.approx(math.log(0.92 / 0.88))
    with pytest.raises(ValueError, match="p0 < p1"):
        llr_weights(0.12, 0.08)


def _naive_cusum(increments: list[float]) -> list[float]:
    out, s = [], 0.0
    for inc in increments:
        s = max(0.0, s + inc)
        out.append(s)
    return out


def test_cusum_path_is_pages_recursion() -> None:
    rng = np.random.default_rng(5)
    increments = rng.normal(-0.1, 1.0, size=500)
    assert cusum_path(increments) == pytest.approx(_naive_cusum(list(increments)))


def test_run_starts_point_after_the_last_zero() -> None:
    path = np.array([0.0, 1.0, 2.0, 0.0, 0.5, 0.0, 0.0, 3.0])
    assert run_starts(path).tolist() == [1, 1, 1, 4, 4, 6, 7, 7]


def test_arl_is_geometric_when_one_event_crosses() -> None:
    # With h below the event step, the first event alarms: run length ~ Geometric(p).
    p0, p1 = 0.08, 0.12
    a, _ = llr_weights(p0, p1)
    assert average_run_length(0.05, p0, p1, a * 0.9) == pytest.approx(geom(0.05).mean())


def _simulated_arl(p: float, p0: float, p1: float, h: float, reps: int, seed: int) -> float:
    """Per-interaction CUSUM run lengths, many paths in parallel."""
    a, b = llr_weights(p0, p1)
    rng = np.random.default_rng(seed)
    s = np.zeros(reps)
    lengths = np.zeros(reps)
    alive = np.ones(reps, dtype=bool)
    t = 0
    while alive.any():
        t += 1
        steps = np.where(rng.random(reps) < p, a, -b)
        s = np.where(alive, np.maximum(0.0, s + steps), s)
        crossed = alive & (s > h)
        lengths[crossed] = t
        alive &= ~crossed
    return float(lengths.mean())


@pytest.mark.parametrize("p", [0.2, 0.3])
def test_arl_chain_matches_simulation_and_is_a_lower_bound(p: float) -> None:
    p0, p1, h = 0.2, 0.3, 3.0
    chain = average_run_length(p, p0, p1, h)
    reps = 4000
    simulated = _simulated_arl(p, p0, p1, h, reps=reps, seed=11)
    # The lattice chain sits at or above the real statistic: never a longer ARL than the
    # real one (beyond simulation noise, ~1.6% here), and within ~10% of it.
    assert chain <= simulated * 1.04
    assert chain >= simulated * 0.9


def test_threshold_meets_the_target_arl0_and_no_lower_one_does() -> None:
    p0, p1 = 0.08, 0.12
    h = threshold(p0, p1, 1_000_000)
    assert average_run_length(p0, p0, p1, h) >= 1_000_000
    assert average_run_length(p0, p0, p1, h - 0.05) < 1_000_000
    assert 8.5 < h < 10
    # and the design detects the 8% -> 12% step in ~850 interactions from a standing start
    assert 700 < average_run_length(p1, p0, p1, h) < 1000


@pytest.mark.parametrize(("x", "n"), [(0, 50), (780, 10_000), (13_500, 168_000), (99, 100)])
@pytest.mark.parametrize("confidence", [0.68, 0.95, 0.99])
def test_wilson_upper_matches_statsmodels(x: int, n: int, confidence: float) -> None:
    _, upper = proportion_confint(x, n, alpha=1 - confidence, method="wilson")
    assert wilson_upper(x, n, confidence) == pytest.approx(upper, rel=1e-12)


def test_reference_rate_is_the_rounded_up_wilson_upper_bound() -> None:
    _, upper = proportion_confint(780, 10_000, alpha=0.05, method="wilson")
    p0 = reference_rate(780, 10_000, 0.95)
    assert p0 >= upper
    assert p0 == pytest.approx(0.0835)
    assert ceil_significant(0.0813) == pytest.approx(0.082)
    assert ceil_significant(0.08131, 3) == pytest.approx(0.0814)
    assert ceil_significant(0.12) == pytest.approx(0.12)
    assert reference_rate(0, 100_000, 0.95) == pytest.approx(0.005)  # the floor


def test_alternative_rate_stays_below_one() -> None:
    assert alternative_rate(0.08, 0.5) == pytest.approx(0.12)
    assert alternative_rate(0.8, 0.5) == pytest.approx(0.9)


def _counts(n: list[int], x: list[int]) -> Counts:
    end = T0 + timedelta(minutes=5 * len(n))
    return Counts(
        T0, timedelta(minutes=5), T0, end, np.array(n, dtype=np.int64), np.array(x, np.int64)
    )


SETTINGS = AlertSettings(rules=(AlertRule(),), min_interactions=300, min_events=30)


def test_detect_finds_the_change_point() -> None:
    rng = np.random.default_rng(2)
    n = [100] * 60
    x = list(rng.binomial(100, 0.08, 30)) + list(rng.binomial(100, 0.12, 30))
    design = Design.for_rates(0.08, 0.5, 1_000_000)
    found = detect(_counts(n, [int(v) for v in x]), design, SETTINGS)
    assert found is not None
    assert 25 <= found.first <= 34  # the change was at bucket 30
    assert found.statistic > design.h
    assert found.alarm > found.first


def test_flat_traffic_and_a_handful_of_events_do_not_alert() -> None:
    rng = np.random.default_rng(3)
    design = Design.for_rates(0.08, 0.5, 1_000_000)
    flat = [int(v) for v in rng.binomial(100, 0.08, 288)]
    assert detect(_counts([100] * 288, flat), design, SETTINGS) is None
    # 10 regenerations in 12 interactions is strong evidence but a handful of events: the
    # CUSUM crosses a low threshold, the minimum evidence holds the alert back.
    low = Design(0.08, 0.12, 2.0, 100.0)
    handful = _counts([12, 0, 0], [10, 0, 0])
    assert cusum_path(bucket_llr([12], [10], 0.08, 0.12))[0] > low.h
    assert detect(handful, low, SETTINGS) is None


def test_returned_needs_evidence_for_the_baseline() -> None:
    design = Design.for_rates(0.08, 0.5, 1_000_000)
    still_high = _counts([100] * 40, [12] * 40)
    assert returned(still_high, design, SETTINGS, 0) is None
    back = _counts([100] * 40, [8] * 40)
    found = returned(back, design, SETTINGS, 0)
    assert found is not None and found.statistic > design.h


def test_rules_parse_and_validate() -> None:
    rules = parse_rules("regeneration:feature, thumbs_down:prompt_version:0.3")
    assert [(r.rule_id, r.lift) for r in rules] == [
        ("regeneration.feature", 0.5),
        ("thumbs_down.prompt_version", 0.3),
    ]
    for bad in ("regeneration", "likes:feature", "regeneration:model", "edit:feature:x"):
        with pytest.raises(ValueError):
            parse_rules(bad)
