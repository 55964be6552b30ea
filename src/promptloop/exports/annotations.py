"""Feedback in the shapes Arize Phoenix and Langfuse import, for teams running those tools.

- Phoenix span annotations (``POST /v1/span_annotations`` takes ``{"data": [...]}``):
  ``span_id``, ``name``, ``annotator_kind`` (``HUMAN``, ``LLM`` or ``CODE``), ``result``
  (``label``, ``score``, ``explanation``), ``metadata`` and ``identifier`` (our feedback ID,
  so a re-import updates instead of duplicating).
- Langfuse scores (``POST /api/public/scores``): ``id`` (our feedback ID: idempotent),
  ``traceId``, ``observationId``, ``name``, ``value``, ``dataType`` (``NUMERIC``,
  ``CATEGORICAL`` or ``BOOLEAN``), ``comment``, ``metadata``.

Both tools address spans by their OpenTelemetry IDs, so only feedback on interactions that
carry a trace and span ID (those ingested through ``POST /v1/traces``, or logged with them)
can be exported; the others are counted in :attr:`AnnotationExport.skipped`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from promptloop.analytics.queries import InteractionFilter
from promptloop.core.enums import FeedbackSource
from promptloop.core.records import as_utc
from promptloop.exports.tables import iter_rows
from promptloop.store.base import Store

# Thumbs are one two-valued judgement, the name Phoenix's own examples use for them.
THUMBS_NAME = "user_feedback"
_THUMBS = {"thumbs_up": 1.0, "thumbs_down": 0.0}
_ANNOTATOR_KIND = {
    FeedbackSource.USER.value: "HUMAN",
    FeedbackSource.ANNOTATOR.value: "HUMAN",
    FeedbackSource.JUDGE.value: "LLM",
    FeedbackSource.INFERRED.value: "CODE",
}
_SPAN_COLUMNS = ", li.trace_id AS span_trace_id, li.span_id AS span_span_id"


@dataclass
class AnnotationExport:
    """Counts of one export, filled in while its records are iterated."""

    exported: int = 0
    skipped: int = 0


def _metadata(row: dict[str, Any]) -> dict[str, Any]:
    extra = row.get("metadata")
    if isinstance(extra, str):
        extra = json.loads(extra) if extra else {}
    timestamp = row.get("timestamp")
    return {
        **(extra if isinstance(extra, dict) else {}),
        "promptloop_feedback_id": row["feedback_id"],
        "promptloop_interaction_id": row["interaction_id"],
        "feedback_type": row["feedback_type"],
        "source": row["source"],
        "category": row.get("category"),
        "timestamp": as_utc(timestamp).isoformat() if isinstance(timestamp, datetime) else None,
    }


def _name(row: dict[str, Any]) -> str:
    kind = str(row["feedback_type"])
    return THUMBS_NAME if kind in _THUMBS else kind


def _feedback_rows(
    store: Store, filters: InteractionFilter | None, counts: AnnotationExport
) -> Iterator[dict[str, Any]]:
    for page in iter_rows(store, "feedback", filters, extra_columns=_SPAN_COLUMNS):
        for row in page:
            if not row.get("span_span_id") or not row.get("span_trace_id"):
                counts.skipped += 1
                continue
            counts.exported += 1
            yield row


def phoenix_annotation(row: dict[str, Any]) -> dict[str, Any]:
    kind = str(row["feedback_type"])
    value = row.get("value")
    score = _THUMBS.get(kind, None if value is None else float(value))
    label = kind if kind in _THUMBS else (row.get("category") or kind)
    explanation = row.get("comment")
    return {
        "span_id": row["span_span_id"],
        "name": _name(row),
        "annotator_kind": _ANNOTATOR_KIND.get(str(row["source"]), "HUMAN"),
        "result": {"label": label, "score": score, "explanation": explanation},
        "metadata": _metadata(row),
        "identifier": row["feedback_id"],
    }


def langfuse_score(row: dict[str, Any]) -> dict[str, Any]:
    kind = str(row["feedback_type"])
    value = row.get("value")
    score: dict[str, Any] = {
        "id": row["feedback_id"],
        "traceId": row["span_trace_id"],
        "observationId": row["span_span_id"],
        "name": _name(row),
    }
    if kind in _THUMBS:
        score.update(value=_THUMBS[kind], dataType="BOOLEAN")
    elif value is not None:
        score.update(value=float(value), dataType="NUMERIC")
    elif row.get("category"):
        score.update(value=str(row["category"]), dataType="CATEGORICAL")
    else:  # the event happened (a regeneration, a copy): a true boolean
        score.update(value=1.0, dataType="BOOLEAN")
    if row.get("comment"):
        score["comment"] = row["comment"]
    score["metadata"] = _metadata(row)
    return score


def phoenix_annotations(
    store: Store, filters: InteractionFilter | None = None, counts: AnnotationExport | None = None
) -> Iterator[dict[str, Any]]:
    """Feedback as Phoenix span annotations, oldest first."""
    for row in _feedback_rows(store, filters, counts or AnnotationExport()):
        yield phoenix_annotation(row)


def langfuse_scores(
    store: Store, filters: InteractionFilter | None = None, counts: AnnotationExport | None = None
) -> Iterator[dict[str, Any]]:
    """Feedback as Langfuse scores, oldest first."""
    for row in _feedback_rows(store, filters, counts or AnnotationExport()):
        yield langfuse_score(row)
