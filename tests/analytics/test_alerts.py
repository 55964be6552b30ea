"""Alerts on the real stores (DuckDB and PostgreSQL), with synthetic traffic and a fixed now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache

import pytest

from promptloop.analytics.alerts import (
    AlertRule,
    AlertSettings,
    acknowledge,
    check,
    get_alert,
    list_alerts,
)
from promptloop.exceptions import ConflictError, NotFoundError
from promptloop.store import Store, open_store
from tests.support.alert_traffic import Segment, Traffic, load, traffic

T = datetime(2026, 11, 1, tzinfo=UTC)
SETTLE = timedelta(minutes=2)
SETTINGS = AlertSettings(
    rules=(AlertRule("regeneration", "feature"), AlertRule("regeneration", "prompt_version")),
    baseline=timedelta(days=2),
)
FEATURE_ONLY = AlertSettings(
    rules=(AlertRule("regeneration", "feature"),), baseline=timedelta(days=2)
)


def at(hours: float, minutes: float = 0) -> datetime:
    """A check time: ``hours`` after T, plus the settle time so the cutoff is on the hour."""
    return T + timedelta(hours=hours, minutes=minutes) + SETTLE


@cache
def rise() -> Traffic:
    """48 h of baseline at 8%, 12 h more at 8%, then 12 h at 12% (the change at T+60h)."""
    return traffic(T, [Segment(48, 0.08), Segment(12, 0.08), Segment(12, 0.12)], seed=1)


@cache
def rise_and_return() -> Traffic:
    """8% until T+54h, 12% for 8 h, back to 8% for 10 h."""
    return traffic(T, [Segment(54, 0.08), Segment(8, 0.12), Segment(10, 0.08)], seed=2)


@cache
def flat() -> Traffic:
    return traffic(T, [Segment(72, 0.08)], seed=4, feature="translate")


def test_a_rise_from_8_to_12_percent_opens_one_alert_per_stream(store: Store) -> None:
    load(store, rise())
    report = check(store, SETTINGS, now=at(72))
    assert report.streams == 2 and report.thin_baseline == 0
    by_rule = {alert["rule_id"]: alert for alert in report.opened}
    assert set(by_rule) == {"regeneration.feature", "regeneration.prompt_version"}
    alert = by_rule["regeneration.feature"]
    assert (alert["status"], alert["feature"], alert["prompt_version"]) == (
        "open",
        "summarize",
        None,
    )
    assert by_rule["regeneration.prompt_version"]["prompt_version"] == "1.0.0"
    _assert_evidence(alert)
    series = get_alert(store, str(alert["alert_id"]))["evidence"]["series"]
    assert len(series["n"]) == len(series["events"]) == len(series["cusum"]) == 24 * 12
    assert sum(series["n"]) == 24 * 200
    assert max(value for value in series["cusum"] if value is not None) == pytest.approx(
        alert["statistic"], abs=1e-3
    )
    assert "series" not in alert["evidence"]  # only a single alert's view carries it


def _assert_evidence(alert: dict[str, object]) -> None:
    flags = rise().flags
    evidence = alert["evidence"]
    assert isinstance(evidence, dict)
    assert alert["method"] == evidence["method"] == "bernoulli_cusum"
    # the baseline is exactly the first 48 h of traffic
    assert alert["baseline_n"] == 48 * 200
    assert alert["baseline_rate"] == pytest.approx(sum(flags[: 48 * 200]) / (48 * 200))
    assert evidence["baseline"]["n"] == 48 * 200
    # the CUSUM dates the change within two hours of the real one (T+60h)
    since = datetime.fromisoformat(evidence["observed"]["since"])
    assert abs(since - (T + timedelta(hours=60))) <= timedelta(hours=2)
    assert alert["window_start"] == since
    assert alert["window_end"] == T + timedelta(hours=72)
    assert 0.10 < float(alert["observed_rate"]) < 0.15  # type: ignore[arg-type]
    assert int(alert["observed_n"]) >= 2000  # type: ignore[call-overload]
    assert float(alert["statistic"]) > float(alert["threshold"])  # type: ignore[arg-type]
    design = evidence["design"]
    assert design["p0"] >= alert["baseline_rate"] and design["p1"] == pytest.approx(
        1.5 * design["p0"]
    )
    assert design["arl0"] >= design["arl0_target"] == 1_000_000
    assert str(alert["message"]).startswith("Regeneration rate on summarize rose from ")
    assert f"(n={int(alert['observed_n']):,}) since " in str(alert["message"])  # type: ignore[call-overload]


def test_flat_traffic_opens_nothing(store: Store) -> None:
    load(store, flat())
    for hours in (54, 60, 66, 72):
        report = check(store, SETTINGS, now=at(hours))
        assert report.opened == [] and report.streams == 2
    assert list_alerts(store, status="all") == []


def test_a_handful_of_events_never_alerts(store: Store) -> None:
    load(store, flat())
    # A feature with 12 interactions, 10 of them regenerated: no baseline to speak of.
    burst = traffic(T + timedelta(hours=71), [Segment(0.06, 0.9)], seed=5, feature="tiny")
    # And on the busy feature, a burst of 8 regenerations in 10 interactions.
    spike = traffic(
        T + timedelta(hours=71, minutes=30),
        [Segment(0.05, 0.9)],
        seed=6,
        feature="translate",
        prompt_version="1.0.0",
    )
    load(store, burst, spike)
    report = check(store, SETTINGS, now=at(72))
    assert report.opened == []
    assert report.thin_baseline == 2  # "tiny", as a feature and as a version


def test_rechecking_updates_the_open_alert_instead_of_duplicating(store: Store) -> None:
    load(store, rise())
    opened = check(store, FEATURE_ONLY, now=at(70)).opened
    assert len(opened) == 1
    again = check(store, FEATURE_ONLY, now=at(72))
    assert again.opened == [] and len(again.updated) == 1
    updated = again.updated[0]
    assert updated["alert_id"] == opened[0]["alert_id"]
    assert updated["window_end"] == T + timedelta(hours=72)
    assert updated["observed_n"] > opened[0]["observed_n"]
    assert len(list_alerts(store, status="all")) == 1
    stored = get_alert(store, opened[0]["alert_id"])
    assert stored["observed_n"] == updated["observed_n"]
    assert stored["evidence"]["baseline"] == opened[0]["evidence"]["baseline"]  # frozen


def test_acknowledge(store: Store) -> None:
    load(store, rise())
    [alert] = check(store, FEATURE_ONLY, now=at(72)).opened
    done = acknowledge(store, alert["alert_id"], "alice", "rolling back 1.0.0", now=at(72, 5))
    assert done["status"] == "acknowledged"
    assert (done["acknowledged_by"], done["ack_note"]) == ("alice", "rolling back 1.0.0")
    assert done["acknowledged_at"] == at(72, 5)
    assert [a["alert_id"] for a in list_alerts(store, status="acknowledged")] == [alert["alert_id"]]
    assert list_alerts(store, status="open") == []
    with pytest.raises(ConflictError, match="already acknowledged by alice"):
        acknowledge(store, alert["alert_id"], "bob", None, now=at(72, 6))
    with pytest.raises(NotFoundError):
        acknowledge(store, "no-such-alert", "bob", None, now=at(72, 6))
    with pytest.raises(ValueError, match="by"):
        acknowledge(store, alert["alert_id"], "  ", None, now=at(72, 6))
    # an acknowledged alert is still followed
    assert [a["status"] for a in check(store, FEATURE_ONLY, now=at(72, 10)).updated] == [
        "acknowledged"
    ]


def test_an_alert_resolves_when_the_rate_returns_to_baseline(store: Store) -> None:
    load(store, rise_and_return())
    [alert] = check(store, FEATURE_ONLY, now=at(62)).opened
    assert alert["status"] == "open"
    assert check(store, FEATURE_ONLY, now=at(63)).resolved == []  # still high
    report = check(store, FEATURE_ONLY, now=at(72))
    [resolved] = report.resolved
    assert resolved["alert_id"] == alert["alert_id"]
    resolution = resolved["evidence"]["resolution"]
    assert resolution["reason"] == "returned_to_baseline"
    assert resolution["statistic"] > resolution["threshold"]
    assert resolution["rate"] < 0.10
    stored = get_alert(store, alert["alert_id"])
    assert (stored["status"], stored["resolved_at"]) == ("resolved", at(72))
    assert "(resolved: back to baseline)" in resolved["message"]
    # the excursion that opened it does not open it again
    assert check(store, FEATURE_ONLY, now=at(72, 5)).opened == []
    assert list_alerts(store) == []  # "active" is open or acknowledged
    assert len(list_alerts(store, status="resolved")) == 1


def test_a_stream_without_traffic_resolves(store: Store) -> None:
    load(store, rise())
    assert len(check(store, SETTINGS, now=at(72)).opened) == 2
    report = check(store, SETTINGS, now=at(104))  # no interactions in the last 24 h
    assert {a["evidence"]["resolution"]["reason"] for a in report.resolved} == {"no_traffic"}
    assert len(report.resolved) == 2


def test_the_same_now_gives_the_same_alerts(store: Store, tmp_path: object) -> None:
    other = open_store(f"duckdb:///{tmp_path}/other.duckdb")
    try:
        for target in (store, other):
            load(target, rise())
        first = check(store, SETTINGS, now=at(72)).opened
        second = check(other, SETTINGS, now=at(72)).opened
        assert [a["alert_id"] for a in first] == [a["alert_id"] for a in second]
        assert [a["evidence"] for a in first] == [a["evidence"] for a in second]
    finally:
        other.close()


def test_list_alerts_validates_its_filters(store: Store) -> None:
    with pytest.raises(ValueError, match="unknown status"):
        list_alerts(store, status="closed")
    with pytest.raises(ValueError, match="limit"):
        list_alerts(store, limit=0)
    with pytest.raises(NotFoundError, match="no alert nope"):
        get_alert(store, "nope")
