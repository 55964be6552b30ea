"""Rates per slice with denominators and intervals, and version comparison, on every backend."""

from __future__ import annotations

from datetime import timedelta

import pytest

from promptloop.analytics.compare import compare
from promptloop.analytics.metrics import Slicing, quality_score, rate_metrics
from promptloop.analytics.queries import InteractionFilter
from promptloop.analytics.stats import wilson
from promptloop.prompts import PromptRegistry
from promptloop.store import Store
from tests.support.records import T0, feedback, interaction


def _traffic(
    store: Store,
    version: str,
    n: int,
    regenerated: int,
    *,
    start_hours: float = 0,
    variant: str | None = None,
    **fields: object,
) -> list[str]:
    records = [
        interaction(
            prompt_version=version,
            feature="summarize",
            prompt_name="summarizer",
            timestamp=T0 + timedelta(hours=start_hours, minutes=i),
            latency_ms=float(100 + i),
            metadata={"ab_variant": variant} if variant else {},
            **fields,
        )
        for i in range(n)
    ]
    store.insert_interactions(records)
    store.insert_feedback([feedback(r.interaction_id, "regenerate") for r in records[:regenerated]])
    return [r.interaction_id for r in records]


def test_every_rate_has_its_denominator_and_wilson_interval(store: Store) -> None:
    ids = _traffic(store, "1.0.0", 40, regenerated=6)
    store.insert_feedback(
        [
            feedback(ids[10], "thumbs_down", category="wrong"),
            feedback(ids[11], "thumbs_up"),
            feedback(ids[12], "copy"),
            feedback(ids[13], "edit", user_edit="x"),
            feedback(ids[13], "copy", metadata={"edited": True}),
        ]
    )
    [row] = rate_metrics(store)
    assert row["interactions"] == 40
    regen = row["rates"]["regeneration"]
    expected = wilson(6, 40)
    assert (regen["count"], regen["n"]) == (6, 40)
    assert (regen["low"], regen["high"]) == pytest.approx((expected.low, expected.high))
    assert row["rates"]["thumbs_down"]["count"] == 1
    assert row["response_rate"] == pytest.approx(2 / 40)
    assert row["rates"]["copy"]["count"] == 2
    assert row["rates"]["copy_without_edit"]["count"] == 1
    assert row["latency"]["median"] == pytest.approx(119.5)
    assert row["latency"]["p95"] == pytest.approx(137.05)
    assert row["negative_share_of_responses"]["rate"] == pytest.approx(0.5)
    assert 0 < row["quality_score"] < 100


def test_time_buckets_and_variants(store: Store) -> None:
    _traffic(store, "1.0.0", 30, regenerated=3, variant="control")
    _traffic(store, "1.0.0", 30, regenerated=9, start_hours=24 * 8, variant="treatment")
    weekly = rate_metrics(store, slicing=Slicing(by=("prompt_version",), bucket="week"))
    assert [r["interactions"] for r in weekly] == [30, 30]
    assert weekly[0]["bucket"] < weekly[1]["bucket"]
    by_variant = rate_metrics(store, slicing=Slicing(by=(), variant_key="ab_variant"))
    assert {r["variant"]: r["rates"]["regeneration"]["count"] for r in by_variant} == {
        "control": 3,
        "treatment": 9,
    }
    hourly = rate_metrics(
        store, InteractionFilter(until=T0 + timedelta(hours=1)), Slicing(by=(), bucket="hour")
    )
    assert sum(r["interactions"] for r in hourly) == 30
    with pytest.raises(ValueError, match="bucket"):
        Slicing(bucket="month")  # type: ignore[arg-type]


def test_quality_score_weights_implicit_signals_above_explicit() -> None:
    def row(regen: float, response: float, negative_share: float) -> dict[str, object]:
        rates = {
            name: {"rate": 0.0}
            for name in ("regeneration", "abandonment", "follow_up", "edit", "response")
        }
        rates["regeneration"]["rate"] = regen
        rates["response"]["rate"] = response
        return {
            "interactions": 100,
            "rates": rates,
            "negative_share_of_responses": {"rate": negative_share},
        }

    assert quality_score(row(0.0, 0.0, 0.0)) == 100.0
    # All explicit responders unhappy at a 5% response rate costs less than 10% regenerations.
    assert quality_score(row(0.0, 0.05, 1.0)) > quality_score(row(0.10, 0.0, 0.0))


def test_comparison_gives_the_difference_test_and_a_plain_verdict(store: Store) -> None:
    _traffic(store, "1.4.0", 1000, regenerated=121)
    _traffic(store, "1.5.0", 1000, regenerated=80, start_hours=24)
    result = compare(store, feature="summarize", rates=("regeneration",))
    [row] = result["comparisons"]
    assert row["summary"] == "1.5.0 lowers regeneration from 12.1% to 8.0%, -4.1 pp [-6.8, -1.5]"
    assert row["verdict"] == "better" and result["correction"] == "none"


def test_too_little_data_says_how_much_more_is_needed(store: Store) -> None:
    _traffic(store, "1.0.0", 50, regenerated=5)
    _traffic(store, "1.1.0", 50, regenerated=4, start_hours=2)
    [row] = compare(store, feature="summarize", rates=("regeneration",))["comparisons"]
    assert row["verdict"] == "insufficient"
    assert row["more_interactions_needed"] > 1000
    assert "not enough data" in row["summary"] and "more interactions per version" in row["summary"]


def test_many_comparisons_are_holm_corrected(store: Store) -> None:
    _traffic(store, "1.0.0", 300, regenerated=30)
    _traffic(store, "1.1.0", 300, regenerated=45, start_hours=10)
    _traffic(store, "1.2.0", 300, regenerated=20, start_hours=20)
    result = compare(store, feature="summarize", rates=("regeneration", "thumbs_down"))
    assert result["correction"] == "holm" and len(result["comparisons"]) == 4
    for row in result["comparisons"]:
        assert row["p_adjusted"] >= row["p_value"]


def test_deployments_bound_each_version_to_its_production_window(store: Store) -> None:
    registry = PromptRegistry(store)
    registry.register("summarizer", "v1 text")
    registry.register("summarizer", "v2 text", rationale="shorter")
    # 1.1.0 ran as a canary (10 interactions, all regenerated) before its promotion.
    _traffic(store, "1.0.0", 100, regenerated=10)
    _traffic(store, "1.1.0", 10, regenerated=10, start_hours=3)
    _traffic(store, "1.1.0", 100, regenerated=5, start_hours=6)
    store.execute(
        "INSERT INTO prompt_deployments VALUES ('d1', 'summarizer', 'production', NULL, '1.0.0',"
        " 'promote', 'ann', 'launch', :t1), ('d2', 'summarizer', 'production', '1.0.0', '1.1.0',"
        " 'promote', 'ann', 'ship', :t2)",
        {"t1": T0 - timedelta(hours=1), "t2": T0 + timedelta(hours=5)},
    )
    result = compare(store, feature="summarize", rates=("regeneration",))
    assert result["groups"]["1.1.0"]["interactions"] == 100
    assert result["groups"]["1.1.0"]["windows"][0]["start"] == T0 + timedelta(hours=5)
    unbounded = compare(
        store, feature="summarize", rates=("regeneration",), bound_by_deployments=False
    )
    assert unbounded["groups"]["1.1.0"]["interactions"] == 110


def test_compare_needs_two_groups(store: Store) -> None:
    _traffic(store, "1.0.0", 10, regenerated=1)
    with pytest.raises(ValueError, match="at least two groups"):
        compare(store, feature="summarize")
    with pytest.raises(ValueError, match="unknown rate"):
        compare(store, feature="summarize", rates=("vibes",))
