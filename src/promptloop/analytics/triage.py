"""Triage of failure patterns: prompt-fixable, model limitation, or product scope.

promptloop *suggests* a class from evidence stored with each cluster; a person confirms or
overrides it (:func:`set_triage`: who, when, a note). Confirmed classes survive re-clustering
(a new cluster that matches an old one inherits its triage).

The suggestion, first rule that applies (docs/patterns.md):

1. **product_scope**: the cluster's inputs are far from what the feature handles well. Its
   *typicality* (median over members of the mean cosine similarity to their nearest 5 % of
   a sample of the feature's inputs without negative signals) is below ``scope_ratio``
   (0.4) times the typicality of those successful inputs themselves. Users ask for what the
   feature is not built to do: a UI affordance, not a longer prompt.
2. **prompt_fixable**: the pattern's rate (members / the feature's traffic, per prompt
   version in the window) changed between consecutive prompt versions: two-proportion
   z-test, Holm-corrected over the pairs, p < 0.05, and a relative change of 25 % or more.
3. **model_limitation**: the pattern is present under two or more prompt versions (each
   with ``min_traffic`` interactions and a rate whose Wilson lower bound is above zero)
   and no change is significant: it persists across prompts (and models, when more than
   one served). A longer prompt will not fix it.
4. otherwise no suggestion: not enough evidence (one prompt version, or too little traffic).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from promptloop.analytics.patterns.rates import difference, wilson
from promptloop.core.records import as_utc, utc_now
from promptloop.exceptions import NotFoundError
from promptloop.store.base import Store


class TriageClass(StrEnum):
    PROMPT_FIXABLE = "prompt_fixable"
    MODEL_LIMITATION = "model_limitation"
    PRODUCT_SCOPE = "product_scope"


TRIAGE_CLASSES: tuple[str, ...] = tuple(c.value for c in TriageClass)


@dataclass(frozen=True)
class TriageSettings:
    scope_ratio: float = 0.4
    alpha: float = 0.05
    min_change: float = 0.25
    min_traffic: int = 30


def check_class(value: str) -> TriageClass:
    try:
        return TriageClass(value)
    except ValueError:
        raise ValueError(
            f"unknown triage class {value!r}; one of: {', '.join(TRIAGE_CLASSES)}"
        ) from None


def suggest(
    stats: Mapping[str, Any],
    scope_evidence: Mapping[str, Any] | None,
    settings: TriageSettings | None = None,
) -> tuple[str | None, dict[str, Any]]:
    """The suggested class (or None) and the evidence behind it."""
    settings = settings or TriageSettings()
    versions = version_evidence(stats.get("versions") or [], settings)
    evidence: dict[str, Any] = {"scope": dict(scope_evidence or {}), "versions": versions}
    ratio = (scope_evidence or {}).get("ratio")
    if isinstance(ratio, int | float) and ratio < settings.scope_ratio:
        return _because(evidence, TriageClass.PRODUCT_SCOPE, _scope_reason(ratio, settings))
    changed = [pair for pair in versions["changes"] if pair["significant"]]
    if changed:
        return _because(evidence, TriageClass.PROMPT_FIXABLE, _change_reason(changed[0]))
    present = [row for row in versions["rates"] if row["eligible"] and row["present"]]
    if len(present) >= 2:
        models = sorted({str(row["model"]) for row in present})
        reason = (
            f"present under {len(present)} prompt versions ({', '.join(_names(present))}) "
            f"on {len(models)} model(s) with no significant change"
        )
        return _because(evidence, TriageClass.MODEL_LIMITATION, reason)
    evidence["reason"] = "not enough evidence: seen under fewer than two prompt versions"
    return None, evidence


def _because(evidence: dict[str, Any], cls: TriageClass, reason: str) -> tuple[str, dict[str, Any]]:
    evidence["reason"] = reason
    return cls.value, evidence


def _scope_reason(ratio: float, settings: TriageSettings) -> str:
    return (
        f"far from the feature's typical inputs: typicality {ratio:.2f}x that of its "
        f"successful inputs (below {settings.scope_ratio:.2f}x)"
    )


def _change_reason(pair: Mapping[str, Any]) -> str:
    return (
        f"rate changed from {pair['from_rate']:.2%} ({pair['from']}) to {pair['to_rate']:.2%} "
        f"({pair['to']}), Holm-adjusted p = {pair['p_adjusted']:.3g}"
    )


def _names(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    return [str(row["prompt_version"]) for row in rows]


def version_evidence(
    versions: Sequence[Mapping[str, Any]], settings: TriageSettings
) -> dict[str, Any]:
    """Per version: the pattern's rate with its interval; per consecutive pair: the test."""
    rates = [_rate(row, settings) for row in versions]
    eligible = [row for row in rates if row["eligible"]]
    pairs = [_pair(a, b) for a, b in itertools.pairwise(eligible)]
    adjusted = holm([pair["p_value"] for pair in pairs])
    for pair, p in zip(pairs, adjusted, strict=True):
        pair["p_adjusted"] = p
        pair["significant"] = bool(
            p < settings.alpha and abs(pair["relative_change"]) >= settings.min_change
        )
    return {"rates": rates, "changes": pairs}


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values, in the input order. (The same numbers as
    statsmodels' ``multipletests(method="holm")``, which runs a full ``gc.collect()`` per
    call: half a second each, once per cluster.)"""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted = [1.0] * len(p_values)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def _rate(row: Mapping[str, Any], settings: TriageSettings) -> dict[str, Any]:
    count, total = int(row.get("interactions") or 0), int(row.get("traffic") or 0)
    interval = wilson(count, total)
    low = interval["low"]
    return {
        "prompt_version": row.get("prompt_version"),
        "model": row.get("model"),
        **interval,
        "eligible": total >= settings.min_traffic,
        "present": bool(low is not None and low > 0),
    }


def _pair(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    test = difference(int(a["count"]), int(a["n"]), int(b["count"]), int(b["n"]))
    base = float(a["rate"] or 0.0)
    after = float(b["rate"] or 0.0)
    change = (after - base) / base if base > 0 else (1e9 if after > 0 else 0.0)
    return {
        "from": a["prompt_version"],
        "to": b["prompt_version"],
        "from_rate": a["rate"],
        "to_rate": b["rate"],
        "diff": test["diff"],
        "low": test["low"],
        "high": test["high"],
        "z": test["z"],
        "p_value": 1.0 if test["p_value"] is None else test["p_value"],
        "relative_change": change,
    }


def set_triage(
    store: Store,
    cluster_id: str,
    triage_class: str,
    *,
    by: str,
    note: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Record a person's triage of a cluster (an inactive one's active successor is used)."""
    from promptloop.analytics.clusters import get_cluster

    cls = check_class(triage_class)
    if not by or not by.strip():
        raise ValueError("who triaged is required (by)")
    found = get_cluster(store, cluster_id, examples=False)
    if found is None:
        raise NotFoundError(f"no cluster {cluster_id}")
    store.execute(
        "UPDATE failure_clusters SET triage = :triage, triaged_by = :by, triaged_at = :at, "
        "triage_note = :note WHERE cluster_id = :id",
        {
            "triage": cls.value,
            "by": by.strip(),
            "at": as_utc(now or utc_now()),
            "note": note,
            "id": found["cluster_id"],
        },
    )
    updated = get_cluster(store, found["cluster_id"], examples=False)
    assert updated is not None
    return updated
