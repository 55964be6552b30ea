"""Edit diff statistics."""

from __future__ import annotations

import pytest

from promptloop.signals.edits import edit_stats


def test_a_shortening_edit_names_what_was_cut() -> None:
    original = "The export is in Settings. It was added in 2021 and many people like it a lot."
    edited = "The export is in Settings."
    stats = edit_stats(original, edited)
    assert stats.direction == "shortened"
    assert stats.chars_removed == len(original) - len(edited) and stats.chars_added == 0
    assert stats.words_removed == 12 and stats.words_added == 0
    assert stats.length_change == len(edited) - len(original)
    [span] = stats.spans
    assert span.op == "delete" and span.original.strip().startswith("It was added")
    assert span.position == len("The export is in Settings.")
    assert 0.6 < stats.edit_distance_ratio < 0.8


@pytest.mark.parametrize(
    ("original", "edited", "direction"),
    [
        ("Same text.", "Same text.", "unchanged"),
        (
            "Hello there, how can I help you today?",
            "Hello there, how can I help you today!",
            "minor",
        ),
        ("Short.", "Short. With a much longer explanation added by the user.", "lengthened"),
        ("Use the export menu.", "Open File and Print.", "rewritten"),
    ],
)
def test_directions(original: str, edited: str, direction: str) -> None:
    assert edit_stats(original, edited).direction == direction


def test_replacements_keep_both_sides() -> None:
    stats = edit_stats("Refunds take 30 days.", "Refunds take 5 business days.")
    [span] = stats.spans
    assert (span.op, span.original, span.edited) == ("replace", "30", "5 business")
    assert (stats.words_removed, stats.words_added) == (1, 2)
