"""Where a label goes next: feedback events, eval datasets, judge calibration and triage.

- **Feedback events** with ``source='annotator'``, linked to the interaction: good is a
  thumbs-up, bad a thumbs-down (with the label's category, the notes as comment), and a
  corrected answer a ``correction`` whose ``user_edit`` is that answer. Metadata carries the
  label's severity, fixability, reviewer and IDs. Their IDs derive from the label's, so
  writing them twice stores them once. The judge's calibration
  (``promptloop.evals.judge.calibrate_from_store``) reads these events.
- **Eval datasets**: a labelled interaction's dataset candidates
  (``promptloop.evals.datasets.candidates_for_interaction``) become accepted items, with the
  corrected answer (or, for a good verdict, the output itself) as the reference.
- **Triage**: a failure pattern whose labelled members mostly share one fixability gets that
  class confirmed (:func:`calibrate_triage`), unless a person already triaged it.
"""

from __future__ import annotations

import importlib
import uuid
from collections import Counter
from datetime import datetime
from typing import Any

from promptloop.analytics.triage import set_triage
from promptloop.core.enums import FeedbackSource, FeedbackType
from promptloop.core.records import FeedbackEvent, as_utc, utc_now
from promptloop.exceptions import PromptloopError
from promptloop.store.base import Store

ANNOTATORS = "annotators"  # who ``set_triage`` records for a class confirmed by labels
_EVENT_NAMESPACE = uuid.UUID("5f2d8c41-6e3a-4b97-b0c5-7a1e9d3f2b64")


def feedback_events(label: dict[str, Any]) -> list[FeedbackEvent]:
    """The annotator feedback events a label stands for."""
    metadata = {
        "review_label_id": label["label_id"],
        "review_item_id": label["item_id"],
        "reviewer": label["reviewer"],
        "verdict": label["verdict"],
        "severity": label.get("severity"),
        "fixability": label.get("fixability"),
        "corrected_answer": label.get("corrected_answer"),
    }
    common: dict[str, Any] = {
        "interaction_id": label["interaction_id"],
        "source": FeedbackSource.ANNOTATOR,
        "timestamp": label["created_at"],
        "metadata": metadata,
    }
    events: list[FeedbackEvent] = []
    verdict_type = {"good": FeedbackType.THUMBS_UP, "bad": FeedbackType.THUMBS_DOWN}.get(
        label["verdict"]
    )
    if verdict_type is not None:
        events.append(
            FeedbackEvent(
                feedback_id=_event_id(label, verdict_type.value),
                feedback_type=verdict_type,
                category=label.get("category")
                if verdict_type is FeedbackType.THUMBS_DOWN
                else None,
                comment=label.get("notes"),
                **common,
            )
        )
    # A good answer with a better wording is still good: the correction event (negative in
    # every rate and in the judge's calibration) is for bad and unsure verdicts only.
    if label.get("corrected_answer") and label["verdict"] != "good":
        events.append(
            FeedbackEvent(
                feedback_id=_event_id(label, FeedbackType.CORRECTION.value),
                feedback_type=FeedbackType.CORRECTION,
                category=label.get("category"),
                user_edit=label["corrected_answer"],
                comment=label.get("notes") if verdict_type is None else None,
                **common,
            )
        )
    return events


def _event_id(label: dict[str, Any], kind: str) -> str:
    return str(uuid.uuid5(_EVENT_NAMESPACE, f"{label['label_id']}\x1f{kind}"))


def _datasets_module() -> Any | None:
    """The evals dataset API, when this installation has it (it is optional here)."""
    try:
        module = importlib.import_module("promptloop.evals.datasets")
    except ImportError:
        return None
    has_api = hasattr(module, "candidates_for_interaction") and hasattr(module, "accept_candidate")
    return module if has_api else None


def reference_of(label: dict[str, Any], raw_output: str | None) -> str | None:
    """The answer an eval item should expect: the correction, or a good output as it is."""
    if label.get("corrected_answer"):
        return str(label["corrected_answer"])
    if label["verdict"] == "good":
        return raw_output
    return None


def expected_of(label: dict[str, Any]) -> str | None:
    """The expected property, as a sentence the judge grades against (None: nothing to say)."""
    notes = f" Reviewer's note: {label['notes']}" if label.get("notes") else ""
    if label.get("corrected_answer"):
        return f"Gives the substance of the reviewer's corrected answer (the reference).{notes}"
    if label["verdict"] == "good":
        return f"As good as the answer a reviewer approved (the reference).{notes}"
    if label["verdict"] == "bad" and (label.get("category") or notes):
        what = label.get("category") or "the labelled failure"
        return f"Does not repeat the failure a reviewer labelled: {what}.{notes}"
    return None


def accept_dataset_candidates(
    store: Store, label: dict[str, Any], raw_output: str | None
) -> dict[str, Any]:
    """Turn the interaction's dataset candidates into accepted eval items."""
    module = _datasets_module()
    if module is None:
        return {"available": False, "accepted": []}
    expected = expected_of(label)
    if expected is None:
        return {"available": True, "accepted": [], "reason": "an unsure label accepts nothing"}
    accepted, failed = [], []
    for candidate in module.candidates_for_interaction(store, label["interaction_id"]):
        if candidate.get("status") != "candidate":
            continue
        try:
            module.accept_candidate(
                store,
                str(candidate["item_id"]),
                expected=expected,
                reference=reference_of(label, raw_output),
                accepted_by=f"{label['reviewer']} (review)",
            )
        except (ValueError, PromptloopError) as exc:  # the label stays stored: say why
            failed.append({"item_id": str(candidate["item_id"]), "error": str(exc)})
            continue
        accepted.append(str(candidate["item_id"]))
    return {"available": True, "accepted": accepted, "failed": failed}


def flow_onward(store: Store, label: dict[str, Any], raw_output: str | None) -> dict[str, Any]:
    """Feedback events, then dataset items; return what happened."""
    events = feedback_events(label)
    stored = store.insert_feedback(events)
    datasets = accept_dataset_candidates(store, label, raw_output)
    return {
        "feedback_ids": [event.feedback_id for event in events],
        "feedback_stored": stored,
        "datasets": datasets,
    }


# ---------------------------------------------------------------------------- triage


def fixability_by_cluster(store: Store) -> dict[str, Counter[str]]:
    """For each active failure pattern: how its labelled members' fixability was judged."""
    rows = store.fetch_all(
        """
        SELECT m.cluster_id, r.fixability, count(*) AS n
        FROM review_labels r
        JOIN cluster_members m ON m.interaction_id = r.interaction_id
        JOIN failure_clusters c ON c.cluster_id = m.cluster_id
        WHERE c.active AND r.fixability IS NOT NULL AND r.verdict = 'bad'
        GROUP BY m.cluster_id, r.fixability
        """
    )
    found: dict[str, Counter[str]] = {}
    for row in rows:
        found.setdefault(row["cluster_id"], Counter())[row["fixability"]] = int(row["n"])
    return found


def calibrate_triage(
    store: Store,
    *,
    min_labels: int = 3,
    majority: float = 0.6,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Confirm a pattern's triage class from its labelled members.

    A pattern with at least ``min_labels`` fixability labels of which a share of at least
    ``majority`` agree gets that class, recorded as triaged by ``annotators`` with the
    counts as the note, unless a person already triaged it. The agreement of promptloop's
    suggestions with these labels is reported (how far to trust the unlabelled ones).
    """
    if min_labels < 1 or not 0.5 <= majority <= 1:
        raise ValueError("min_labels must be >= 1 and majority between 0.5 and 1")
    clusters = {
        row["cluster_id"]: row
        for row in store.fetch_all(
            "SELECT cluster_id, label, triage, triaged_by, triage_suggestion"
            " FROM failure_clusters WHERE active"
        )
    }
    confirmed, kept, undecided, compared, agreed = [], [], [], 0, 0
    for cluster_id, counts in sorted(fixability_by_cluster(store).items()):
        cluster = clusters[cluster_id]
        total = sum(counts.values())
        top, n = counts.most_common(1)[0]
        if total < min_labels or n / total < majority:
            undecided.append({"cluster_id": cluster_id, "labels": dict(counts)})
            continue
        if cluster["triage_suggestion"]:
            compared += 1
            agreed += int(cluster["triage_suggestion"] == top)
        entry = {
            "cluster_id": cluster_id,
            "label": cluster["label"],
            "class": top,
            "labels": dict(counts),
        }
        if cluster["triaged_by"] and cluster["triaged_by"] != ANNOTATORS:
            kept.append({**entry, "kept": cluster["triage"], "by": cluster["triaged_by"]})
            continue
        note = f"{n} of {total} labelled members judged {top}: " + ", ".join(
            f"{name} {count}" for name, count in counts.most_common()
        )
        set_triage(store, cluster_id, top, by=ANNOTATORS, note=note, now=as_utc(now or utc_now()))
        confirmed.append(entry)
    return {
        "confirmed": confirmed,
        "kept_human_triage": kept,
        "undecided": undecided,
        "suggestion_agreement": {
            "compared": compared,
            "agreed": agreed,
            "rate": round(agreed / compared, 4) if compared else None,
        },
    }
