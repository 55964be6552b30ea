"""Pure domain records and helpers: no I/O, importable by the SDK and the server alike."""

from promptloop.core.enums import KNOWN_CATEGORIES, NEGATIVE_TYPES, FeedbackSource, FeedbackType
from promptloop.core.records import FeedbackEvent, Interaction

__all__ = [
    "KNOWN_CATEGORIES",
    "NEGATIVE_TYPES",
    "FeedbackEvent",
    "FeedbackSource",
    "FeedbackType",
    "Interaction",
]
