"""Priority: severity from signal labels, quadrants from documented thresholds, the order, and
the query on both backends."""

from __future__ import annotations

from typing import Any

import pytest

from promptloop.analytics.clusters import ClusterSettings, run_clustering
from promptloop.analytics.priority import (
    DEFAULT_WEIGHTS,
    QUADRANTS,
    PrioritySettings,
    priorities,
    prioritize,
    quadrant,
    severity,
)
from promptloop.store.base import Store
from tests.analytics.test_clusters_data import NOW, build

DEFAULTS = PrioritySettings()


def test_default_weights_follow_the_seeds_order() -> None:
    order = ("inappropriate", "wrong", "abandonment", "off_topic", "unhelpful", "regeneration")
    weights = [DEFAULT_WEIGHTS[label] for label in order]
    assert weights == sorted(weights, reverse=True) and len(set(weights)) == len(weights)


def test_severity_is_the_worst_harm_a_meaningful_share_shows() -> None:
    # Inappropriate on 10% of the interactions or more: fully severe.
    assert severity({"inappropriate": 10, "regeneration": 90}, 100, DEFAULTS) == 1.0
    # On 5%: half of its weight; the regenerations' weight (0.25) is lower.
    assert severity({"inappropriate": 5, "regeneration": 90}, 100, DEFAULTS) == 0.5
    # Many mild signals never add up to a severe one.
    assert severity({"regeneration": 500, "follow_up": 300}, 100, DEFAULTS) == 0.3
    assert severity({"abandonment": 60}, 100, DEFAULTS) == 0.6
    assert severity({}, 100, DEFAULTS) == 0.0
    assert severity({"wrong": 3}, 0, DEFAULTS) == 0.0
    # A handful of events in a tiny cluster is not evidence: rates are taken over 30.
    assert severity({"inappropriate": 2}, 5, DEFAULTS) == pytest.approx(2 / 30 / 0.1, abs=1e-4)
    # Unknown labels get the default weight; weights are configurable.
    assert severity({"custom": 50}, 100, DEFAULTS) == 0.3
    custom = PrioritySettings(weights={"regeneration": 1.0})
    assert severity({"regeneration": 50}, 100, custom) == 1.0


@pytest.mark.parametrize(
    ("score", "share", "expected"),
    [
        (0.8, 0.05, "frequent_severe"),
        (0.8, 0.005, "rare_severe"),
        (0.3, 0.05, "frequent_mild"),
        (0.3, 0.005, "rare_mild"),
        (0.65, 0.01, "frequent_severe"),  # both thresholds are inclusive
        (0.6499, 0.0099, "rare_mild"),
    ],
)
def test_quadrants(score: float, share: float, expected: str) -> None:
    assert quadrant(score, share, DEFAULTS) == expected


def test_settings_are_checked() -> None:
    for bad in (
        PrioritySettings(saturation=0),
        PrioritySettings(severe_at=2),
        PrioritySettings(weights={"wrong": 3.0}),
    ):
        with pytest.raises(ValueError):
            bad.validated()


def view(
    cluster_id: str, interactions: int, traffic: int, labels: dict[str, int]
) -> dict[str, Any]:
    return {
        "cluster_id": cluster_id,
        "kind": "negative",
        "feature": "f",
        "label": cluster_id,
        "interactions": interactions,
        "per_week": interactions / 4,
        "share": {"count": interactions, "n": traffic, "rate": interactions / traffic},
        "window": None,
        "trend": [{"interactions": interactions}],
        "signal_mix": {"labels": labels},
        "triage": {"class": None, "suggestion": None},
        "examples": [{"interaction_id": "x", "user_input": "y"}],
    }


def test_prioritize_carries_the_evidence() -> None:
    found = prioritize(view("a", 40, 1000, {"inappropriate": 8, "regeneration": 30}), DEFAULTS)
    assert found["quadrant"] == "frequent_severe" and found["action"] == "next sprint"
    assert found["severity"] == {
        "score": 1.0,
        "events": 38,
        "labels": {"regeneration": 30, "inappropriate": 8},
    }
    assert found["harm"] == pytest.approx(0.04)
    assert found["example"] == {"interaction_id": "x", "user_input": "y"}


def test_priorities_on_the_store_are_in_quadrant_then_harm_order(store: Store) -> None:
    build().load(store)
    run_clustering(store, ClusterSettings(now=NOW))
    ranked = priorities(store)
    assert [item["rank"] for item in ranked] == list(range(1, len(ranked) + 1))
    rank_of = {name: i for i, (name, _) in enumerate(QUADRANTS)}
    keys = [(rank_of[item["quadrant"]], -item["harm"]) for item in ranked]
    assert keys == sorted(keys)
    by_label = {item["label"]: item for item in ranked}
    # Planted: "export" fails as "wrong" on a large share; travel is off-topic and abandoned.
    export = next(item for label, item in by_label.items() if "export" in label)
    travel = next(item for label, item in by_label.items() if "flight" in label.split())
    assert export["quadrant"] == "frequent_severe"
    assert travel["quadrant"] == "frequent_mild"
    assert travel["severity"]["labels"] == {"off_topic": 18, "abandonment": 18}
    assert priorities(store, limit=2) == ranked[:2]
    assert priorities(store, feature="elsewhere") == []
    strict = priorities(store, PrioritySettings(severe_at=1.0, frequent_share=1.0))
    assert {item["quadrant"] for item in strict} == {"rare_mild"}
