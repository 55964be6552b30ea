"""The closed vocabularies of the loop: feedback types, sources and the standard categories."""

from __future__ import annotations

from enum import StrEnum


class FeedbackType(StrEnum):
    """What a feedback event says about an interaction.

    The first six are the seed's ``FeedbackEvent.feedbackType``; the rest extend it.
    """

    THUMBS_UP = "thumbs_up"
    THUMBS_DOWN = "thumbs_down"
    EDIT = "edit"
    REGENERATE = "regenerate"
    COPY = "copy"
    ABANDON = "abandon"
    RATING = "rating"
    FOLLOW_UP = "follow_up"
    CORRECTION = "correction"
    REPORT = "report"


class FeedbackSource(StrEnum):
    """Who produced a feedback event: the user, an inference job, a human annotator or a judge."""

    USER = "user"
    INFERRED = "inferred"
    ANNOTATOR = "annotator"
    JUDGE = "judge"


# Sources whose events measure production traffic. Rates, summaries and alerts count only
# these: an annotator's or a judge's verdict is an evaluation of the answer, and counting it
# as a user's thumbs-down would move the very rates the review is meant to check.
PRODUCTION_SOURCES: tuple[str, ...] = (FeedbackSource.USER.value, FeedbackSource.INFERRED.value)

# The one-tap categories offered after a thumbs-down. Custom categories are allowed too.
KNOWN_CATEGORIES: tuple[str, ...] = ("wrong", "unhelpful", "off_topic", "inappropriate", "other")

# Feedback types that always count as negative. A rating counts as negative when its value
# is at or below NEGATIVE_RATING_MAX (ratings are on a 1..5 scale).
NEGATIVE_TYPES: tuple[str, ...] = (
    FeedbackType.THUMBS_DOWN.value,
    FeedbackType.REPORT.value,
    FeedbackType.CORRECTION.value,
)
NEGATIVE_RATING_MAX = 2.0

# Explicit feedback is what a user deliberately says; the response rate is computed over these.
EXPLICIT_TYPES: tuple[str, ...] = (
    FeedbackType.THUMBS_UP.value,
    FeedbackType.THUMBS_DOWN.value,
    FeedbackType.RATING.value,
    FeedbackType.CORRECTION.value,
    FeedbackType.REPORT.value,
)
