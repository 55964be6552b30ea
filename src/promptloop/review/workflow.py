"""The reviewer's loop as the API, the CLI and the dashboard all run it: next, label, again."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from promptloop.review.config import ReviewSettings
from promptloop.review.labels import LabelInput, submit_label
from promptloop.review.onward import flow_onward
from promptloop.review.queue import (
    claim_item,
    claim_next,
    count_open,
    enqueue,
    enqueue_interaction,
    item_id_for,
    item_view,
)
from promptloop.store.base import Store


def next_item(
    store: Store,
    reviewer: str,
    settings: ReviewSettings | None = None,
    *,
    exclude: Sequence[str] = (),
    refill: bool = True,
    now: datetime | None = None,
) -> dict[str, Any] | None:
    """Claim the reviewer's next item and return its view; None when the queue is empty.

    With ``refill`` an empty queue first runs the rules (over the last 7 days), so a
    reviewer never has to know about ``enqueue``.
    """
    settings = settings or ReviewSettings()
    item = claim_next(store, reviewer, settings, now=now, exclude=exclude)
    if item is None and refill and count_open(store) == 0:
        enqueue(store, settings, now=now)
        item = claim_next(store, reviewer, settings, now=now, exclude=exclude)
    return None if item is None else item_view(store, item)


def label_item(
    store: Store,
    item_id: str,
    reviewer: str,
    label: LabelInput,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Store the label (the reviewer must hold the item), then send it onward."""
    stored = submit_label(store, item_id, reviewer, label, now=now)
    outputs = store.fetch_all(
        "SELECT raw_output FROM llm_interaction_logs WHERE interaction_id = :id",
        {"id": stored["label"]["interaction_id"]},
    )
    raw_output = outputs[0]["raw_output"] if outputs else None
    return {**stored, "onward": flow_onward(store, stored["label"], raw_output)}


def label_interaction(
    store: Store,
    interaction_id: str,
    reviewer: str,
    label: LabelInput,
    settings: ReviewSettings | None = None,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Label an interaction found elsewhere (search, a report): queue it by hand, claim, label."""
    settings = settings or ReviewSettings()
    enqueue_interaction(store, interaction_id, settings, now=now)
    item_id = item_id_for(interaction_id)
    claim_item(store, item_id, reviewer, settings, now=now)
    return label_item(store, item_id, reviewer, label, now=now)
