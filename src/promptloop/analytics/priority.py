"""Which failure pattern to fix first: frequency x severity, in four quadrants.

For each active cluster (its statistics are stored with it, so this reads a few hundred rows
whatever the size of the store):

- **frequency**: the cluster's interactions in its window (the last N weeks), per week, and
  as a share of the feature's traffic in the same window, with a 95 % Wilson interval;
- **severity** (0..1): each negative signal event on the members has a label (the category a
  user picked, else what its type says: a correction is "wrong", an abandon "abandonment").
  A label's *rate* is its events per member interaction. The cluster's severity is that of
  its worst harm shown by a meaningful share of it: the maximum over labels of
  ``weight x min(1, rate / saturation)`` with ``saturation`` = 10 %. A harm seen on one
  interaction in ten counts fully; rarer signs of it count in proportion, so a stray report
  does not make a pattern severe and many regenerations do not hide a few reports of harm.
  Rates of clusters smaller than ``min_evidence`` (30) interactions are taken over 30: a
  handful of events is not evidence.

Default weights (configurable; the order is the seed's): inappropriate 1.0 > report without
category 0.9 > wrong 0.8 (a correction counts as wrong) > abandonment 0.6 > off_topic 0.45 >
low rating 0.4 = thumbs-down without category 0.4 > unhelpful 0.35 > follow-up 0.3 = edit
0.3 > regeneration 0.25.

Quadrants (thresholds configurable): **severe** when severity >= 0.65 (so abandonment alone,
0.6, is not; "wrong" on 8 % or more of the interactions is); **frequent** when the cluster is at
least 1 % of the feature's traffic in the window.

    frequent & severe  -> "next sprint"
    rare & severe      -> "address promptly"
    frequent & mild    -> "batch into prompt maintenance"
    rare & mild        -> "monitor"

Order: quadrant (as above), then expected harm (severity x share), then size.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from promptloop.analytics.patterns import records
from promptloop.analytics.patterns.sql import check_kind
from promptloop.store.base import Store

DEFAULT_WEIGHTS: Mapping[str, float] = {
    "inappropriate": 1.0,
    "report": 0.9,
    "wrong": 0.8,
    "abandonment": 0.6,
    "off_topic": 0.45,
    "low_rating": 0.4,
    "thumbs_down": 0.4,
    "unhelpful": 0.35,
    "follow_up": 0.3,
    "edit": 0.3,
    "regeneration": 0.25,
}

QUADRANTS: tuple[tuple[str, str], ...] = (
    ("frequent_severe", "next sprint"),
    ("rare_severe", "address promptly"),
    ("frequent_mild", "batch into prompt maintenance"),
    ("rare_mild", "monitor"),
)
_ACTIONS = dict(QUADRANTS)
_RANK = {name: i for i, (name, _) in enumerate(QUADRANTS)}


@dataclass(frozen=True)
class PrioritySettings:
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    saturation: float = 0.1
    min_evidence: int = 30
    severe_at: float = 0.65
    frequent_share: float = 0.01
    default_weight: float = 0.3  # a label missing from ``weights``

    def validated(self) -> PrioritySettings:
        if not 0 < self.saturation <= 1:
            raise ValueError("saturation must be in (0, 1]")
        if not 0 <= self.severe_at <= 1 or not 0 <= self.frequent_share <= 1:
            raise ValueError("severe_at and frequent_share must be between 0 and 1")
        if any(not 0 <= float(w) <= 1 for w in self.weights.values()):
            raise ValueError("weights must be between 0 and 1")
        return self


def severity(labels: Mapping[str, int], interactions: int, settings: PrioritySettings) -> float:
    """Max over labels of weight x min(1, events per interaction / saturation)."""
    if interactions <= 0:
        return 0.0
    over = max(interactions, settings.min_evidence)
    score = 0.0
    for label, n in labels.items():
        weight = float(settings.weights.get(label, settings.default_weight))
        score = max(score, weight * min(1.0, int(n) / over / settings.saturation))
    return round(score, 4)


def quadrant(severity_score: float, share: float, settings: PrioritySettings) -> str:
    severe = severity_score >= settings.severe_at
    frequent = share >= settings.frequent_share
    return f"{'frequent' if frequent else 'rare'}_{'severe' if severe else 'mild'}"


def prioritize(view: Mapping[str, Any], settings: PrioritySettings) -> dict[str, Any]:
    """One cluster's priority, with the evidence behind it."""
    labels = (view.get("signal_mix") or {}).get("labels") or {}
    score = severity(labels, int(view["interactions"]), settings)
    share = float(view["share"]["rate"] or 0.0)
    name = quadrant(score, share, settings)
    return {
        "cluster_id": view["cluster_id"],
        "kind": view["kind"],
        "feature": view["feature"],
        "label": view["label"],
        "quadrant": name,
        "action": _ACTIONS[name],
        "frequency": {
            "interactions": view["interactions"],
            "per_week": view["per_week"],
            "share": view["share"],
            "window": view["window"],
        },
        "severity": {
            "score": score,
            "events": sum(int(n) for n in labels.values()),
            "labels": dict(sorted(labels.items(), key=lambda item: -int(item[1]))),
        },
        "harm": round(score * share, 6),
        "trend": [week["interactions"] for week in view["trend"]],
        "triage": {
            "class": view["triage"]["class"],
            "suggestion": view["triage"]["suggestion"],
        },
        "example": next(iter(view.get("examples") or []), None),
    }


def priorities(
    store: Store,
    settings: PrioritySettings | None = None,
    *,
    kind: str | None = None,
    feature: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Active failure patterns in priority order, each with its quadrant and evidence."""
    settings = (settings or PrioritySettings()).validated()
    clauses, params = ["active"], {}
    if kind is not None:
        clauses.append("kind = :kind")
        params["kind"] = check_kind(kind)
    if feature is not None:
        clauses.append("feature = :feature")
        params["feature"] = feature
    rows = store.fetch_all(f"SELECT * FROM failure_clusters WHERE {' AND '.join(clauses)}", params)
    ranked = [prioritize(records.view(records.decoded(row)), settings) for row in rows]
    ranked.sort(
        key=lambda p: (
            _RANK[p["quadrant"]],
            -p["harm"],
            -p["frequency"]["interactions"],
            p["cluster_id"],
        )
    )
    for rank, item in enumerate(ranked[:limit] if limit else ranked, start=1):
        item["rank"] = rank
    return ranked[:limit] if limit else ranked
