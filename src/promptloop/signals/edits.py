"""What a user's edit says: how much changed, in which direction, and where.

"The diffs between original output and final accepted output are gold. They tell you
exactly where the model fell short and in what direction." The numbers here are computed
from a word-level diff (difflib) and a character-level normalised Levenshtein distance
(rapidfuzz), so they aggregate across many edits.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from rapidfuzz.distance import Levenshtein

Direction = Literal["unchanged", "minor", "shortened", "lengthened", "rewritten"]
MAX_SPANS = 50
MAX_SPAN_CHARS = 500
# Below this share of characters changed an edit is a touch-up, whatever its length change.
MINOR_EDIT_RATIO = 0.1
# Length changes beyond these factors make an edit a shortening or a lengthening.
SHORTENED_BELOW = 0.85
LENGTHENED_ABOVE = 1.15

_TOKEN = re.compile(r"\S+|\s+")


@dataclass(frozen=True)
class ChangedSpan:
    op: Literal["replace", "delete", "insert"]
    original: str
    edited: str
    position: int  # character offset in the original


@dataclass(frozen=True)
class EditStats:
    edit_distance_ratio: float  # normalised character Levenshtein distance, 0..1
    chars_added: int
    chars_removed: int
    words_added: int
    words_removed: int
    original_chars: int
    edited_chars: int
    length_change: int  # edited - original, in characters
    direction: Direction
    spans: list[ChangedSpan] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _words(text: str) -> int:
    return len(text.split())


def edit_stats(original: str, edited: str) -> EditStats:
    """Diff statistics of an edit from ``original`` (the model's output) to ``edited``."""
    a_tokens, b_tokens = _TOKEN.findall(original), _TOKEN.findall(edited)
    matcher = difflib.SequenceMatcher(None, a_tokens, b_tokens, autojunk=False)
    offsets = [0]
    for token in a_tokens:
        offsets.append(offsets[-1] + len(token))
    spans: list[ChangedSpan] = []
    added = removed = words_added = words_removed = 0
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        before, after = "".join(a_tokens[i1:i2]), "".join(b_tokens[j1:j2])
        removed += len(before)
        added += len(after)
        words_removed += _words(before)
        words_added += _words(after)
        if before.strip() or after.strip():
            spans.append(
                ChangedSpan(
                    op=op,
                    original=before[:MAX_SPAN_CHARS],
                    edited=after[:MAX_SPAN_CHARS],
                    position=offsets[i1],
                )
            )
    ratio = Levenshtein.normalized_distance(original, edited)
    return EditStats(
        edit_distance_ratio=round(ratio, 4),
        chars_added=added,
        chars_removed=removed,
        words_added=words_added,
        words_removed=words_removed,
        original_chars=len(original),
        edited_chars=len(edited),
        length_change=len(edited) - len(original),
        direction=_direction(original, edited, ratio),
        spans=spans[:MAX_SPANS],
    )


def _direction(original: str, edited: str, ratio: float) -> Direction:
    if original == edited:
        return "unchanged"
    if ratio < MINOR_EDIT_RATIO:
        return "minor"
    scale = len(edited) / max(len(original), 1)
    if scale < SHORTENED_BELOW:
        return "shortened"
    if scale > LENGTHENED_ABOVE:
        return "lengthened"
    return "rewritten"
