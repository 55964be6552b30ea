"""Annotators' and judges' verdicts are evaluations, not production feedback: rates,
summaries and alerts count users' and inferred events only, on and off the rollup."""

from __future__ import annotations

from datetime import UTC, datetime

from promptloop.analytics.metrics import rate_metrics
from promptloop.analytics.queries import InteractionFilter, top_negative_inputs, version_summary
from promptloop.store.base import Store
from tests.support.records import feedback, interaction

NOW = datetime(2026, 11, 5, tzinfo=UTC)


def _fill(store: Store) -> None:
    calls = [interaction(user_input=f"question {n}") for n in range(4)]
    store.insert_interactions(calls)
    store.insert_feedback(
        [
            feedback(calls[0].interaction_id, "thumbs_down", source="user"),
            feedback(calls[1].interaction_id, "thumbs_down", source="annotator"),
            feedback(calls[2].interaction_id, "thumbs_down", source="judge"),
            feedback(calls[3].interaction_id, "regenerate", source="inferred"),
        ]
    )


def test_rates_count_production_sources_only(store: Store) -> None:
    _fill(store)
    for filters in (None, InteractionFilter(session_id="s-1")):  # rollup, then plain SQL
        (row,) = rate_metrics(store, filters)
        assert row["interactions"] == 4
        assert row["rates"]["thumbs_down"]["count"] == 1
        assert row["rates"]["regeneration"]["count"] == 1
        assert row["response_rate"] == 0.25


def test_summary_and_negative_inputs_ignore_verdicts(store: Store) -> None:
    _fill(store)
    for filters in (None, InteractionFilter(session_id="s-1")):
        (summary,) = version_summary(store, filters)
        assert summary["thumbs_down"] == 1
    negative = top_negative_inputs(store, days=30, now=NOW)
    assert sorted(row["example_input"] for row in negative) == ["question 0"]
