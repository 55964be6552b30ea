"""Portable SQL for failure clustering: which interactions are negatively signalled, the
follow-up questions, a sample of the feature's successful inputs, members of a scope.

A *scope* is one clustering: a kind (``negative`` or ``follow_up``) and a feature, or every
feature together (``feature`` NULL in ``failure_clusters``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from promptloop.core.enums import NEGATIVE_RATING_MAX

NEGATIVE = "negative"
FOLLOW_UP = "follow_up"
KINDS = (NEGATIVE, FOLLOW_UP)

# Signals that make an interaction's input part of the ``negative`` population.
SIGNALS = (
    "thumbs_down",
    "report",
    "correction",
    "low_rating",
    "regenerate",
    "follow_up",
    "abandon",
    "edit",
)
_PLAIN_TYPES = ("thumbs_down", "report", "correction", "regenerate", "follow_up", "abandon")
# An edit counts unless its analysis (edit_analyses, from the signals job) says it was minor.
MIN_EDIT_RATIO = 0.3


@dataclass(frozen=True)
class Scope:
    kind: str
    feature: str | None  # None: every feature together

    def on_logs(self, alias: str = "l") -> tuple[str, dict[str, Any]]:
        if self.feature is None:
            return "TRUE", {}
        return f"{alias}.feature = :scope_feature", {"scope_feature": self.feature}

    def on_clusters(self, alias: str = "c") -> tuple[str, dict[str, Any]]:
        """A condition on ``failure_clusters AS alias`` (no alias: bare column names)."""
        prefix = f"{alias}." if alias else ""
        condition = f"{prefix}kind = :scope_kind AND " + (
            f"{prefix}feature IS NULL"
            if self.feature is None
            else f"{prefix}feature = :scope_feature"
        )
        params: dict[str, Any] = {"scope_kind": self.kind}
        if self.feature is not None:
            params["scope_feature"] = self.feature
        return condition, params

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "feature": self.feature}


def used(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters ``sql`` names (DuckDB refuses extra ones)."""
    return {key: value for key, value in params.items() if f":{key}" in sql}


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown cluster kind {kind!r}; one of: {', '.join(KINDS)}")
    return kind


def check_signals(signals: Sequence[str]) -> tuple[str, ...]:
    unknown = [signal for signal in signals if signal not in SIGNALS]
    if unknown or not signals:
        raise ValueError(
            f"unknown signals {unknown!r}; choose from: {', '.join(SIGNALS)}"
            if unknown
            else "at least one signal is needed"
        )
    return tuple(dict.fromkeys(signals))


def signal_condition(signals: Sequence[str], alias: str = "f") -> str:
    """A condition on ``feedback_events AS alias``: the event is one of ``signals``.
    Uses the parameter ``:min_edit_ratio`` when ``edit`` is among them."""
    parts: list[str] = []
    plain = [signal for signal in signals if signal in _PLAIN_TYPES]
    if plain:
        parts.append(f"{alias}.feedback_type IN ({', '.join(repr(s) for s in plain)})")
    if "low_rating" in signals:
        parts.append(
            f"({alias}.feedback_type = 'rating' AND {alias}.value <= {NEGATIVE_RATING_MAX})"
        )
    if "edit" in signals:
        parts.append(
            f"({alias}.feedback_type = 'edit' AND NOT EXISTS (SELECT 1 FROM edit_analyses ea "
            f"WHERE ea.feedback_id = {alias}.feedback_id "
            "AND ea.edit_distance_ratio < :min_edit_ratio))"
        )
    return "(" + " OR ".join(parts) + ")"


def subject_ids(kind: str, signals: Sequence[str]) -> str:
    """A subquery of the interaction IDs in the kind's population."""
    if kind == FOLLOW_UP:
        return (
            "SELECT fu.related_interaction_id FROM feedback_events fu "
            "WHERE fu.feedback_type = 'follow_up' AND fu.related_interaction_id IS NOT NULL"
        )
    return f"SELECT f.interaction_id FROM feedback_events f WHERE {signal_condition(signals)}"


def population(
    scope: Scope,
    signals: Sequence[str],
    since: datetime,
    until: datetime,
    *,
    unassigned_only: bool = False,
) -> tuple[str, dict[str, Any]]:
    """The scope's inputs in the window: ``interaction_id, feature, user_input``. With
    ``unassigned_only``, those not yet members of one of the scope's active clusters."""
    feature, params = scope.on_logs()
    sql = (
        "SELECT l.interaction_id, l.feature, l.user_input FROM llm_interaction_logs l "
        f"WHERE l.timestamp >= :since AND l.timestamp < :until AND {feature} "
        "AND l.user_input IS NOT NULL AND l.user_input <> '' "
        f"AND l.interaction_id IN ({subject_ids(scope.kind, signals)})"
    )
    if unassigned_only:
        clusters, cluster_params = scope.on_clusters()
        params.update(cluster_params)
        sql += (
            " AND NOT EXISTS (SELECT 1 FROM cluster_members m JOIN failure_clusters c "
            "ON c.cluster_id = m.cluster_id WHERE m.interaction_id = l.interaction_id "
            f"AND c.active AND {clusters})"
        )
    if scope.feature is None and not unassigned_only:
        sql += " ORDER BY l.feature, l.interaction_id"
    else:
        sql += " ORDER BY l.interaction_id"
    return sql, used(
        sql, {**params, "since": since, "until": until, "min_edit_ratio": MIN_EDIT_RATIO}
    )


def successful_sample(
    scope: Scope, signals: Sequence[str], since: datetime, until: datetime, limit: int
) -> tuple[str, dict[str, Any]]:
    """A deterministic sample of the scope's inputs with none of the negative signals: what
    the feature handles well, the reference for "far from the feature's typical inputs"."""
    feature, params = scope.on_logs()
    sql = (
        "SELECT l.user_input FROM llm_interaction_logs l "
        f"WHERE l.timestamp >= :since AND l.timestamp < :until AND {feature} "
        "AND l.user_input IS NOT NULL AND l.user_input <> '' "
        f"AND l.interaction_id NOT IN ({subject_ids(NEGATIVE, signals)}) "
        "ORDER BY md5(l.interaction_id) LIMIT :limit"
    )
    return sql, used(
        sql,
        {
            **params,
            "since": since,
            "until": until,
            "limit": limit,
            "min_edit_ratio": MIN_EDIT_RATIO,
        },
    )


def member_sample(scope: Scope, per_cluster: int) -> tuple[str, dict[str, Any]]:
    """Up to ``per_cluster`` members of each active cluster of the scope, with their input."""
    clusters, params = scope.on_clusters()
    sql = (
        "SELECT cluster_id, user_input FROM ("
        "SELECT m.cluster_id, l.user_input, row_number() OVER "
        "(PARTITION BY m.cluster_id ORDER BY md5(m.interaction_id)) AS rank_in_cluster "
        "FROM cluster_members m JOIN failure_clusters c ON c.cluster_id = m.cluster_id "
        "JOIN llm_interaction_logs l ON l.interaction_id = m.interaction_id "
        f"WHERE c.active AND {clusters} AND l.user_input IS NOT NULL) ranked "
        "WHERE rank_in_cluster <= :per_cluster ORDER BY cluster_id, rank_in_cluster"
    )
    return sql, {**params, "per_cluster": per_cluster}
