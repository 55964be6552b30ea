"""What the alert detector watches, and how hard it must look before it speaks.

A rule is a rate (any rate of :data:`promptloop.analytics.metrics.RATES` where lower is
better: regeneration, thumbs_down, edit, abandonment, follow_up, negative) watched per
scope (each feature, or each prompt version within its feature). Each (rule, scope value)
pair is one *stream*, with at most one open alert at a time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from promptloop.analytics.metrics import LOWER_IS_BETTER, RATES

Scope = Literal["feature", "prompt_version"]
SCOPES: tuple[Scope, ...] = ("feature", "prompt_version")

# Interactions younger than this are not judged yet: their signal may still be on its way.
# A regeneration follows within seconds; an abandonment is inferred only 30 min after the
# last turn (docs/signals.md), so judging a fresh interaction would bias the rate down.
SETTLE: dict[str, timedelta] = {
    "regeneration": timedelta(minutes=2),
    "follow_up": timedelta(minutes=5),
    "thumbs_down": timedelta(minutes=10),
    "edit": timedelta(minutes=10),
    "negative": timedelta(minutes=10),
    "abandonment": timedelta(minutes=40),
}
LABELS: dict[str, str] = {
    "regeneration": "Regeneration rate",
    "follow_up": "Follow-up rate",
    "thumbs_down": "Thumbs-down rate",
    "edit": "Edit rate",
    "negative": "Negative-feedback rate",
    "abandonment": "Abandonment rate",
}
METRICS: tuple[str, ...] = tuple(name for name in RATES if name in LOWER_IS_BETTER)


@dataclass(frozen=True)
class AlertRule:
    """Alert when ``metric`` rises by ``lift`` (relative: 0.5 = by half) in any ``scope``."""

    metric: str = "regeneration"
    scope: Scope = "feature"
    lift: float = 0.5
    settle: timedelta | None = None  # default: SETTLE[metric]

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"unknown alert metric {self.metric!r}; one of: {', '.join(METRICS)}")
        if self.scope not in SCOPES:
            raise ValueError(f"unknown alert scope {self.scope!r}; one of: {', '.join(SCOPES)}")
        if not 0.01 <= self.lift <= 10:
            raise ValueError("lift must be between 0.01 and 10 (relative: 0.5 = rises by half)")

    @property
    def rule_id(self) -> str:
        """Stable name of the rule, stored with each alert: ``regeneration.feature``."""
        return f"{self.metric}.{self.scope}"

    @property
    def settle_for(self) -> timedelta:
        return self.settle if self.settle is not None else SETTLE.get(self.metric, timedelta())

    @property
    def label(self) -> str:
        return LABELS.get(self.metric, f"{self.metric} rate")


DEFAULT_RULES: tuple[AlertRule, ...] = (
    AlertRule("regeneration", "feature"),
    AlertRule("regeneration", "prompt_version"),
)


def parse_rules(text: str) -> tuple[AlertRule, ...]:
    """``metric:scope[:lift]`` items, comma-separated: ``regeneration:feature,edit:feature:0.3``."""
    rules: list[AlertRule] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        parts = item.split(":")
        if len(parts) not in (2, 3):
            raise ValueError(f"alert rule {item!r} is not metric:scope[:lift]")
        try:
            lift = float(parts[2]) if len(parts) == 3 else 0.5
        except ValueError:
            raise ValueError(f"alert rule {item!r}: lift {parts[2]!r} is not a number") from None
        if parts[1] not in SCOPES:
            raise ValueError(f"unknown alert scope {parts[1]!r}; one of: {', '.join(SCOPES)}")
        rules.append(AlertRule(parts[0], parts[1], lift))
    return tuple(rules)


def rules_from_env() -> tuple[AlertRule, ...]:
    """``PROMPTLOOP_ALERT_RULES`` when set, else the defaults (regeneration per scope)."""
    raw = os.environ.get("PROMPTLOOP_ALERT_RULES", "").strip()
    return parse_rules(raw) if raw else DEFAULT_RULES


@dataclass(frozen=True)
class AlertSettings:
    """Windows and evidence requirements of the detector (docs/alerts.md explains each).

    - ``window``: the monitored recent window; the CUSUM runs over its buckets.
    - ``baseline``: the trailing window just before it, which sets the in-control rate.
    - ``arl0``: the in-control average run length to design for, in interactions per
      stream: the threshold h is chosen so that, with no change, a false alert comes on
      average no sooner than this.
    - ``min_interactions`` / ``min_events``: the evidence an alert needs (since the change
      point): never an alert from a handful of events.
    """

    rules: tuple[AlertRule, ...] = field(default_factory=rules_from_env)
    window: timedelta = timedelta(hours=24)
    baseline: timedelta = timedelta(days=7)
    bucket: timedelta = timedelta(minutes=5)
    arl0: float = 1_000_000.0
    min_interactions: int = 300
    min_events: int = 30
    min_baseline_interactions: int = 1_000
    # The baseline rate is replaced by the upper end of its two-sided interval at this
    # confidence, so a noisy baseline cannot make ordinary traffic look like a rise.
    baseline_confidence: float = 0.95

    def __post_init__(self) -> None:
        if self.bucket <= timedelta() or self.window < self.bucket:
            raise ValueError("bucket must be positive and no longer than window")
        if self.baseline <= timedelta():
            raise ValueError("baseline must be positive")
        if self.arl0 < 100:
            raise ValueError("arl0 must be at least 100 interactions")
        if self.min_interactions < 1 or self.min_events < 1:
            raise ValueError("min_interactions and min_events must be at least 1")
