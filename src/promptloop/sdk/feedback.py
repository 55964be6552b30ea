"""``promptloop.feedback``: link a feedback event to an interaction."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

from promptloop.core.enums import FeedbackSource, FeedbackType
from promptloop.sdk import _ids
from promptloop.sdk import client as _client_mod
from promptloop.sdk.guard import handle_internal_error

_TYPES = {member.value: member.value for member in FeedbackType}
_SOURCES = {member.value: member.value for member in FeedbackSource}
_NEEDS_EDIT = (FeedbackType.EDIT.value, FeedbackType.CORRECTION.value)


def _check_uuid(value: str, name: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except (ValueError, TypeError, AttributeError):
        raise ValueError(f"{name} must be a UUID, got {value!r}") from None


def feedback(
    interaction_id: str,
    type: FeedbackType | str,
    *,
    category: str | None = None,
    value: float | None = None,
    user_edit: str | None = None,
    comment: str | None = None,
    related_interaction_id: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    source: FeedbackSource | str = "user",
    feedback_id: str | None = None,
) -> str | None:
    """Queue a feedback event about ``interaction_id`` and return its ``feedback_id``.

    The ID is generated here (UUID4) so a retried send is stored once. ``type`` is one of
    :class:`~promptloop.FeedbackType` (``thumbs_up``, ``thumbs_down``, ``edit``,
    ``regenerate``, ``copy``, ``abandon``, ``rating``, ``follow_up``, ``correction``,
    ``report``); a ``rating`` needs ``value`` and an ``edit``/``correction`` needs
    ``user_edit``. Invalid input is logged and counted and ``None`` returned (raised in
    strict mode).

    >>> import promptloop
    >>> fid = promptloop.feedback(
    ...     "1b4e28ba-2fa1-41d2-883f-0016d3cca427", "thumbs_down", category="wrong"
    ... )
    >>> len(fid)
    36
    """
    try:
        kind = _TYPES.get(str(type))
        if kind is None:
            raise ValueError(f"unknown feedback type {type!r}; expected one of {sorted(_TYPES)}")
        origin = _SOURCES.get(str(source))
        if origin is None:
            raise ValueError(
                f"unknown feedback source {source!r}; expected one of {sorted(_SOURCES)}"
            )
        if kind == FeedbackType.RATING.value and value is None:
            raise ValueError("a rating needs a value")
        if kind in _NEEDS_EDIT and user_edit is None:
            raise ValueError(f"{kind} feedback needs user_edit (the user's final text)")
        record = {
            "feedback_id": feedback_id or _ids.new_id(),
            "interaction_id": _check_uuid(interaction_id, "interaction_id"),
            "feedback_type": kind,
            "category": category,
            "value": None if value is None else float(value),
            "user_edit": user_edit,
            "comment": comment,
            "source": origin,
            "related_interaction_id": (
                None
                if related_interaction_id is None
                else _check_uuid(related_interaction_id, "related_interaction_id")
            ),
            "metadata": dict(metadata) if metadata else None,
            "timestamp": time.time(),
        }
        _client_mod.current_client().enqueue_feedback(record)
        return record["feedback_id"]  # type: ignore[return-value]
    except Exception as exc:
        handle_internal_error(exc, "feedback")
        return None
