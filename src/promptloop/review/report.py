"""The periodic prompt review: one report to run a thirty-minute session from.

"Query your feedback data, look at the top twenty most-flagged interactions, identify one
prompt change, ship it, log the rationale." :func:`build_report` gathers, for a period:

1. the top 20 most-flagged interactions, each with its evidence (every signal, the user's
   words, the output, labels, the failure pattern it belongs to);
2. failure patterns in priority order with their weekly trend;
3. the alerts raised in the period;
4. each prompt version against the previous one (:func:`promptloop.analytics.compare.compare`);
5. the holdout status of the eval datasets (``promptloop.evals.holdout.holdout_report``);
6. what the reviewers labelled: the queue, the verdicts, the bad rate of the uniform random
   sample (the unbiased estimate explicit feedback cannot give) and their agreement;
7. the one prompt change to make, with a prefilled ``promptloop prompts push`` command that
   records its rationale and evidence, and the dashboard page of the prompt.

Flagged: an explicit negative event (thumbs-down, report, correction, a rating <= 2) from
the user or an annotator counts 3, an implicit one (regeneration, edit, abandonment,
follow-up) counts 1.
"""

from __future__ import annotations

import re
import shlex
from collections import Counter
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from promptloop.analytics import alerts as alerts_api
from promptloop.analytics.compare import compare
from promptloop.analytics.priority import priorities
from promptloop.analytics.queries import NEGATIVE_CONDITION
from promptloop.analytics.stats import wilson
from promptloop.core.records import as_utc, utc_now
from promptloop.prompts import PromptRegistry
from promptloop.review.agreement import agreement
from promptloop.review.queue import queue_counts
from promptloop.store.base import Store

TOP_FLAGGED = 20
IMPLICIT_TYPES = ("regenerate", "edit", "abandon", "follow_up")
EXPLICIT_WEIGHT = 3
_PERIOD = re.compile(r"^\s*(\d{1,4})\s*([hdw])\s*$")
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}


def parse_period(text: str) -> timedelta:
    """``30d``, ``2w`` or ``12h``: a ValueError names the field otherwise."""
    found = _PERIOD.match(text or "")
    if not found or int(found.group(1)) == 0:
        raise ValueError(f"period: {text!r} is not a number of hours, days or weeks like 30d")
    return timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})


def build_report(
    store: Store,
    *,
    period: str = "30d",
    now: datetime | None = None,
    top: int = TOP_FLAGGED,
) -> dict[str, Any]:
    until = as_utc(now or utc_now())
    since = until - parse_period(period)
    flagged = most_flagged(store, since, until, top)
    patterns = _patterns(store)
    report: dict[str, Any] = {
        "period": {"label": period, "since": since, "until": until},
        "most_flagged": flagged,
        "patterns": patterns,
        "alerts": alerts_in(store, since, until),
        "versions": version_comparisons(store, since, until),
        "holdout": holdout_status(store),
        "labels": label_summary(store, since, until),
    }
    report["change"] = one_change(store, report, period)
    return report


# ---------------------------------------------------------------------------- flagged


def most_flagged(store: Store, since: datetime, until: datetime, top: int) -> list[dict[str, Any]]:
    implicit = ", ".join(f"'{kind}'" for kind in IMPLICIT_TYPES)
    rows = store.fetch_all(
        f"""
        SELECT f.interaction_id,
               sum(CASE WHEN {NEGATIVE_CONDITION} AND f.source IN ('user', 'annotator')
                        THEN 1 ELSE 0 END) AS explicit,
               sum(CASE WHEN f.feedback_type IN ({implicit}) THEN 1 ELSE 0 END) AS implicit
        FROM feedback_events f
        JOIN llm_interaction_logs l ON l.interaction_id = f.interaction_id
        WHERE f.timestamp >= :since AND f.timestamp < :until
        GROUP BY f.interaction_id
        HAVING sum(CASE WHEN ({NEGATIVE_CONDITION} AND f.source IN ('user', 'annotator'))
                        OR f.feedback_type IN ({implicit}) THEN 1 ELSE 0 END) > 0
        ORDER BY {EXPLICIT_WEIGHT} * sum(CASE WHEN {NEGATIVE_CONDITION}
                        AND f.source IN ('user', 'annotator') THEN 1 ELSE 0 END)
                 + sum(CASE WHEN f.feedback_type IN ({implicit}) THEN 1 ELSE 0 END) DESC,
                 f.interaction_id
        LIMIT :top
        """,
        {"since": since, "until": until, "top": top},
    )
    return [_evidence(store, row) for row in rows]


def _evidence(store: Store, row: dict[str, Any]) -> dict[str, Any]:
    ident = row["interaction_id"]
    interaction = store.fetch_all(
        "SELECT interaction_id, timestamp, feature, prompt_name, prompt_version, model,"
        " user_input, raw_output, session_id FROM llm_interaction_logs"
        " WHERE interaction_id = :id",
        {"id": ident},
    )[0]
    signals = store.fetch_all(
        "SELECT feedback_type, category, value, comment, user_edit, source, timestamp"
        " FROM feedback_events WHERE interaction_id = :id ORDER BY timestamp, feedback_id",
        {"id": ident},
    )
    labels = store.fetch_all(
        "SELECT reviewer, verdict, category, severity, fixability, notes FROM review_labels"
        " WHERE interaction_id = :id ORDER BY created_at",
        {"id": ident},
    )
    clusters = store.fetch_all(
        "SELECT c.cluster_id, c.label FROM cluster_members m"
        " JOIN failure_clusters c ON c.cluster_id = m.cluster_id"
        " WHERE m.interaction_id = :id AND c.active",
        {"id": ident},
    )
    explicit, implicit = int(row["explicit"] or 0), int(row["implicit"] or 0)
    return {
        **interaction,
        "score": EXPLICIT_WEIGHT * explicit + implicit,
        "explicit": explicit,
        "implicit": implicit,
        "signals": signals,
        "labels": labels,
        "patterns": clusters,
    }


# ---------------------------------------------------------------------------- the rest


def _patterns(store: Store, limit: int = 10) -> list[dict[str, Any]]:
    found = priorities(store, limit=limit)
    for pattern in found:
        trend = pattern["trend"]
        pattern["trend_direction"] = _direction(trend)
    return found


def _direction(trend: list[int]) -> str:
    """Rising, falling or flat: the last week against the mean of the weeks before it."""
    if len(trend) < 2:
        return "new"
    before = sum(trend[:-1]) / (len(trend) - 1)
    if trend[-1] > 1.25 * before:
        return "rising"
    if trend[-1] < 0.8 * before:
        return "falling"
    return "flat"


def alerts_in(store: Store, since: datetime, until: datetime) -> list[dict[str, Any]]:
    rows = store.fetch_all(
        "SELECT alert_id FROM alerts WHERE opened_at >= :since AND opened_at < :until"
        " ORDER BY opened_at DESC, alert_id",
        {"since": since, "until": until},
    )
    found = []
    for row in rows:
        shown = alerts_api.presented(alerts_api.get_alert(store, row["alert_id"]))
        found.append({key: value for key, value in shown.items() if key != "evidence"})
    return found


def version_comparisons(store: Store, since: datetime, until: datetime) -> list[dict[str, Any]]:
    """Each prompt version that served in the period against the one before it."""
    rows = store.fetch_all(
        """
        SELECT feature, prompt_version, min(timestamp) AS first_seen,
               sum(CASE WHEN timestamp >= :since AND timestamp < :until THEN 1 ELSE 0 END)
                   AS in_period
        FROM llm_interaction_logs
        WHERE feature IS NOT NULL AND prompt_version IS NOT NULL AND timestamp < :until
        GROUP BY feature, prompt_version ORDER BY feature, first_seen
        """,
        {"since": since, "until": until},
    )
    by_feature: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_feature.setdefault(row["feature"], []).append(row)
    found = []
    for feature, versions in sorted(by_feature.items()):
        for before, after in pairwise(versions):
            if int(after["in_period"] or 0) == 0:
                continue
            found.append(_compare_pair(store, feature, before["prompt_version"], after))
    return found


def _compare_pair(
    store: Store, feature: str, previous: str, current: dict[str, Any]
) -> dict[str, Any]:
    version = str(current["prompt_version"])
    try:
        result = compare(store, feature=feature, versions=[previous, version], baseline=previous)
    except ValueError as exc:  # e.g. no traffic left inside the deployment windows
        return {"feature": feature, "version": version, "previous": previous, "error": str(exc)}
    comparisons = result["comparisons"]
    return {
        "feature": feature,
        "version": version,
        "previous": previous,
        "interactions": {
            name: group.get("interactions") for name, group in result["groups"].items()
        },
        "better": [c["summary"] for c in comparisons if c["verdict"] == "better"],
        "worse": [c["summary"] for c in comparisons if c["verdict"] == "worse"],
        "unclear": [c["summary"] for c in comparisons if c["verdict"] not in ("better", "worse")],
        "comparisons": comparisons,
    }


def holdout_status(store: Store) -> dict[str, Any]:
    """The evals' holdout report, or why there is none (degrades, never fails the report)."""
    try:
        from promptloop.evals.holdout import holdout_report
    except ImportError:
        return {"available": False, "rows": [], "note": "eval datasets are not installed here"}
    try:
        rows = holdout_report(store)
    except Exception as exc:  # a store from before the evals migration has no such tables
        return {"available": False, "rows": [], "note": f"holdout report unavailable: {exc}"}
    if not rows:
        note = (
            "no eval runs on datasets yet: build a dataset from this period's failures "
            "and evaluate the next version on it"
        )
        return {"available": True, "rows": [], "note": note}
    warned = [row for row in rows if row.get("warning")]
    return {"available": True, "rows": rows, "warnings": len(warned), "note": None}


def label_summary(store: Store, since: datetime, until: datetime) -> dict[str, Any]:
    rows = store.fetch_all(
        "SELECT verdict, count(*) AS n FROM review_labels"
        " WHERE created_at >= :since AND created_at < :until GROUP BY verdict",
        {"since": since, "until": until},
    )
    verdicts = {row["verdict"]: int(row["n"]) for row in rows}
    return {
        "labels": sum(verdicts.values()),
        "verdicts": verdicts,
        "queue": queue_counts(store),
        "random_sample": sample_estimate(store, since, until),
        "agreement": agreement(store, since=since, until=until),
    }


def sample_estimate(store: Store, since: datetime, until: datetime) -> dict[str, Any]:
    """The bad rate of the period's uniform random sample, from each item's first label.

    Unbiased only once every sampled item is labelled: flagged ones come first in the queue,
    so a partly labelled sample leans bad. ``coverage`` says how far along it is.
    """
    rows = store.fetch_all(
        """
        SELECT i.item_id,
               (SELECT r.verdict FROM review_labels r WHERE r.item_id = i.item_id
                ORDER BY r.created_at, r.label_id LIMIT 1) AS verdict
        FROM review_items i
        JOIN llm_interaction_logs l ON l.interaction_id = i.interaction_id
        WHERE i.sampled AND l.timestamp >= :since AND l.timestamp < :until
        """,
        {"since": since, "until": until},
    )
    verdicts = Counter(str(row["verdict"]) for row in rows if row["verdict"] is not None)
    labelled = sum(verdicts.values())
    judged = verdicts["good"] + verdicts["bad"]
    coverage = labelled / len(rows) if rows else None
    note = None
    if rows and labelled < len(rows):
        note = (
            f"{labelled} of {len(rows)} sampled interactions labelled: the rate is unbiased "
            "once all are (flagged ones are reviewed first)"
        )
    return {
        "items": len(rows),
        "labels": labelled,
        "coverage": None if coverage is None else round(coverage, 4),
        "bad_rate": wilson(verdicts["bad"], judged).as_dict() if judged else None,
        "note": note,
    }


# ---------------------------------------------------------------------------- one change


def one_change(store: Store, report: dict[str, Any], period: str) -> dict[str, Any] | None:
    """The one prompt change to make: the most urgent prompt-fixable pattern, else the
    prompt behind most of the top flagged interactions, with what to record."""
    pattern = _fixable_pattern(report["patterns"])
    flagged = report["most_flagged"]
    members = _members(store, pattern["cluster_id"]) if pattern else []
    prompt = _prompt_of(members or flagged)
    if prompt is None:
        return None
    examples = [row["interaction_id"] for row in flagged if row.get("prompt_name") == prompt][:3]
    if pattern is not None:
        failure = str(pattern["label"])
        why = (
            f'Failure pattern #{pattern["rank"]} "{failure}" ({pattern["action"]}): '
            f"{pattern['frequency']['interactions']} interactions, severity "
            f"{pattern['severity']['score']:.2f}, triage {_triage_of(pattern) or 'unclassified'}."
        )
    else:
        failure = _top_category(flagged, prompt) or "flagged answers"
        why = f"{len(examples)} of the top flagged interactions of the last {period} use it."
    evidence = [f"feedback_query:review report --period {period}"]
    if pattern is not None:
        evidence.append(f"failure_cluster:{pattern['cluster_id']}")
    evidence.extend(f"interaction:{ident}" for ident in examples)
    current = _production_version(store, prompt)
    rationale = f"{why} Fix: <what this version changes>."
    return {
        "prompt_name": prompt,
        "current_version": current,
        "failure_mode": failure,
        "pattern": pattern and {"cluster_id": pattern["cluster_id"], "label": pattern["label"]},
        "rationale": rationale,
        "evidence": evidence,
        "command": _push_command(prompt, rationale, failure, evidence),
        "dashboard": f"/prompts/{prompt}",
    }


def _triage_of(pattern: dict[str, Any]) -> str | None:
    triage = pattern.get("triage") or {}
    return triage.get("class") or triage.get("suggestion")


def _fixable_pattern(patterns: list[dict[str, Any]]) -> dict[str, Any] | None:
    fixable = [p for p in patterns if _triage_of(p) == "prompt_fixable"]
    unknown = [p for p in patterns if _triage_of(p) is None]
    return next(iter(fixable or unknown), None)


def _members(store: Store, cluster_id: str) -> list[dict[str, Any]]:
    return store.fetch_all(
        "SELECT l.prompt_name FROM cluster_members m"
        " JOIN llm_interaction_logs l ON l.interaction_id = m.interaction_id"
        " WHERE m.cluster_id = :id",
        {"id": cluster_id},
    )


def _prompt_of(rows: list[dict[str, Any]]) -> str | None:
    names = Counter(str(row["prompt_name"]) for row in rows if row.get("prompt_name"))
    return names.most_common(1)[0][0] if names else None


def _top_category(flagged: list[dict[str, Any]], prompt: str) -> str | None:
    categories = Counter(
        signal["category"]
        for row in flagged
        if row.get("prompt_name") == prompt
        for signal in row["signals"]
        if signal.get("category")
    )
    return categories.most_common(1)[0][0] if categories else None


def _production_version(store: Store, prompt: str) -> str | None:
    labels = PromptRegistry(store).labels(prompt)
    return labels.get("production")


def _push_command(prompt: str, rationale: str, failure: str, evidence: list[str]) -> str:
    words = [
        "promptloop",
        "prompts",
        "push",
        f"prompts/{prompt}.md",
        "--name",
        prompt,
        "--rationale",
        rationale,
        "--failure-mode",
        failure,
    ]
    for item in evidence:
        words += ["--evidence", item]
    return shlex.join(words)
