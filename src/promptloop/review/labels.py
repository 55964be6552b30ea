"""Labels: a structured verdict on one item, stored once per reviewer, flowing onward.

A label is verdict (good / bad / unsure), category (the widget's set, or a custom one),
severity, fixability (prompt_fixable / model_limitation / product_scope), an optional
corrected answer and notes. Submitting one is a compare-and-set on the claim: the label is
written only while the reviewer holds the item, in the same transaction that counts it and
closes the item when it has all the labels it needs. Then it flows onward
(:mod:`promptloop.review.onward`).
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from promptloop.core.enums import KNOWN_CATEGORIES
from promptloop.core.records import as_utc, utc_now
from promptloop.exceptions import ConflictError
from promptloop.review.queue import check_reviewer, get_item
from promptloop.store.base import Store

Verdict = Literal["good", "bad", "unsure"]
Severity = Literal["low", "medium", "high", "critical"]
Fixability = Literal["prompt_fixable", "model_limitation", "product_scope"]
VERDICTS: tuple[str, ...] = ("good", "bad", "unsure")
SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
FIXABILITIES: tuple[str, ...] = ("prompt_fixable", "model_limitation", "product_scope")
CATEGORIES: tuple[str, ...] = KNOWN_CATEGORIES
LABEL_FIELDS: tuple[str, ...] = ("verdict", "category", "severity", "fixability")
_CATEGORY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-. ]{0,63}$")
_LABEL_NAMESPACE = uuid.UUID("9a7c1e52-0d3b-4f68-8e21-6b4f2c7d9e13")


# A compare-and-set: the label is written only while its reviewer holds the item.
_INSERT_LABEL = """
    INSERT INTO review_labels (label_id, item_id, interaction_id, reviewer, verdict, category,
        severity, fixability, corrected_answer, notes, created_at, duration_ms)
    SELECT :label, i.item_id, i.interaction_id, :reviewer, :verdict, :category, :severity,
        :fixability, :corrected_answer, :notes, :now, :duration_ms
    FROM review_items i
    WHERE i.item_id = :item AND i.claimed_by = :reviewer AND i.status = 'open'
      AND NOT EXISTS (SELECT 1 FROM review_labels x WHERE x.label_id = :label)
"""
_COUNT_LABELS = """
    UPDATE review_items SET
        labels_count = (SELECT count(*) FROM review_labels x WHERE x.item_id = :item),
        claimed_by = NULL, claim_token = NULL, claimed_at = NULL, claim_expires_at = NULL
    WHERE item_id = :item AND claimed_by = :reviewer
      AND EXISTS (SELECT 1 FROM review_labels x WHERE x.label_id = :label)
"""
_CLOSE_DONE = """
    UPDATE review_items SET status = 'done', completed_at = :now
    WHERE item_id = :item AND status = 'open' AND labels_count >= required_labels
"""


def used(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters ``sql`` names (DuckDB refuses extra ones)."""
    return {key: value for key, value in params.items() if re.search(rf":{key}\b", sql)}


class LabelInput(BaseModel):
    """What a reviewer submits; bad values raise ValueError naming the field."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    verdict: Verdict
    category: str | None = Field(None, max_length=64)
    severity: Severity | None = None
    fixability: Fixability | None = None
    corrected_answer: str | None = Field(None, max_length=100_000)
    notes: str | None = Field(None, max_length=20_000)
    duration_ms: float | None = Field(None, ge=0)

    @field_validator("category")
    @classmethod
    def _category_slug(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not _CATEGORY.match(value.strip()):
            raise ValueError("1-64 letters, digits, '_', '-', '.' or spaces")
        return value.strip()

    @field_validator("corrected_answer", "notes")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value if value and value.strip() else None


def parse_label(data: dict[str, Any]) -> LabelInput:
    try:
        return LabelInput.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "label"
        raise ValueError(f"{where}: {first['msg']}") from None


def label_id_for(item_id: str, reviewer: str) -> str:
    return str(uuid.uuid5(_LABEL_NAMESPACE, f"{item_id}\x1f{reviewer}"))


def submit_label(
    store: Store,
    item_id: str,
    reviewer: str,
    label: LabelInput,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Store ``label`` if ``reviewer`` holds ``item_id``; return the label and the item."""
    reviewer = check_reviewer(reviewer)
    now = as_utc(now or utc_now())
    label_id = label_id_for(item_id, reviewer)
    if get_label(store, label_id) is not None:
        raise ConflictError(f"{reviewer} already labelled item {item_id}")
    params = {
        "label": label_id,
        "item": item_id,
        "reviewer": reviewer,
        "now": now,
        **label.model_dump(),
    }
    statements = (_INSERT_LABEL, _COUNT_LABELS, _CLOSE_DONE)
    store.transaction([(sql, used(sql, params)) for sql in statements])
    stored = get_label(store, label_id)
    if stored is None:
        raise ConflictError(_why_not_stored(get_item(store, item_id)))
    return {"label": stored, "item": get_item(store, item_id)}


def _why_not_stored(item: dict[str, Any]) -> str:
    if item["status"] != "open":
        return f"item {item['item_id']} is already fully labelled"
    holder = item["claimed_by"]
    held = f"it is held by {holder}" if holder else "nobody holds it"
    return f"claim item {item['item_id']} before labelling it: {held}"


def get_label(store: Store, label_id: str) -> dict[str, Any] | None:
    rows = store.fetch_all("SELECT * FROM review_labels WHERE label_id = :id", {"id": label_id})
    return rows[0] if rows else None


def labels_between(
    store: Store, since: datetime | None = None, until: datetime | None = None
) -> list[dict[str, Any]]:
    clauses, params = ["TRUE"], {}
    if since is not None:
        clauses.append("created_at >= :since")
        params["since"] = as_utc(since)
    if until is not None:
        clauses.append("created_at < :until")
        params["until"] = as_utc(until)
    return store.fetch_all(
        f"SELECT * FROM review_labels WHERE {' AND '.join(clauses)} ORDER BY created_at, label_id",
        params,
    )
