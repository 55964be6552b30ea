"""Inter-annotator agreement on double-labelled items: Cohen's kappa per label field.

For each field (verdict, category, severity, fixability) the pairs are the items labelled by
two reviewers where both gave a value. Kappa is ``(p_o - p_e) / (1 - p_e)``: the observed
agreement beyond what the two reviewers' own label frequencies would give by chance
(Cohen 1960; the same number as ``sklearn.metrics.cohen_kappa_score``, which the tests check).
When chance agreement is already 1 (both reviewers always gave one same value) kappa is
undefined and reported as ``None`` with the raw agreement. Items with more than two labels
use their first two. Disagreements (verdict first) are listed to be settled.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from promptloop.review.labels import LABEL_FIELDS
from promptloop.store.base import Store


def cohen_kappa(first: Sequence[Any], second: Sequence[Any]) -> float | None:
    """Cohen's kappa of two raters' labels of the same items (None when undefined)."""
    if len(first) != len(second):
        raise ValueError("both raters must label the same items")
    n = len(first)
    if n == 0:
        return None
    observed = sum(a == b for a, b in zip(first, second, strict=True)) / n
    a_counts, b_counts = Counter(first), Counter(second)
    expected = sum(a_counts[value] * b_counts[value] for value in a_counts) / (n * n)
    if expected >= 1.0:
        return None
    return float((observed - expected) / (1 - expected))


def double_labelled_pairs(
    store: Store, *, since: datetime | None = None, until: datetime | None = None
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(first label, second label) of every item labelled by at least two reviewers.

    Labels pair up in reviewer-name order, not time order: kappa treats the two sides as two
    raters, so the same reviewer must stay on the same side whoever labelled first."""
    clauses, params = ["TRUE"], {}
    if since is not None:
        clauses.append("r.created_at >= :since")
        params["since"] = since
    if until is not None:
        clauses.append("r.created_at < :until")
        params["until"] = until
    rows = store.fetch_all(
        f"""
        SELECT r.* FROM review_labels r
        WHERE r.item_id IN (
            SELECT item_id FROM review_labels GROUP BY item_id HAVING count(*) >= 2
        ) AND {" AND ".join(clauses)}
        ORDER BY r.item_id, r.reviewer, r.created_at, r.label_id
        """,
        params,
    )
    by_item: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_item.setdefault(row["item_id"], []).append(row)
    return [(found[0], found[1]) for found in by_item.values() if len(found) >= 2]


def agreement(
    store: Store, *, since: datetime | None = None, until: datetime | None = None
) -> dict[str, Any]:
    """Kappa and raw agreement per field, and the disagreements to settle."""
    pairs = double_labelled_pairs(store, since=since, until=until)
    fields = {}
    for name in LABEL_FIELDS:
        both = [(a[name], b[name]) for a, b in pairs if a[name] is not None and b[name] is not None]
        firsts, seconds = [a for a, _ in both], [b for _, b in both]
        kappa = cohen_kappa(firsts, seconds)
        fields[name] = {
            "pairs": len(both),
            "agreement": round(sum(a == b for a, b in both) / len(both), 4) if both else None,
            "kappa": None if kappa is None else round(kappa, 4),
            "interpretation": interpret(kappa),
        }
    return {
        "double_labelled_items": len(pairs),
        "fields": fields,
        "disagreements": disagreements(pairs),
    }


def interpret(kappa: float | None) -> str:
    """Landis and Koch's (1977) bands, the usual reading of kappa."""
    if kappa is None:
        return "undefined"
    bands = ((0.8, "almost perfect"), (0.6, "substantial"), (0.4, "moderate"), (0.2, "fair"))
    for floor, name in bands:
        if kappa > floor:
            return name
    return "slight" if kappa > 0 else "poor"


def disagreements(
    pairs: Sequence[tuple[dict[str, Any], dict[str, Any]]],
) -> list[dict[str, Any]]:
    found = []
    for a, b in pairs:
        differ = [
            name
            for name in LABEL_FIELDS
            if a[name] is not None and b[name] is not None and a[name] != b[name]
        ]
        if differ:
            found.append(
                {
                    "item_id": a["item_id"],
                    "interaction_id": a["interaction_id"],
                    "fields": differ,
                    "labels": [
                        {"reviewer": row["reviewer"], **{name: row[name] for name in LABEL_FIELDS}}
                        for row in (a, b)
                    ],
                }
            )
    found.sort(key=lambda d: ("verdict" not in d["fields"], -len(d["fields"]), d["item_id"]))
    return found
