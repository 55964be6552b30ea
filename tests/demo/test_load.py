"""load_demo fills a real store, once: loading again adds nothing (on every backend)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from promptloop.demo import demo_is_loaded, load_demo
from promptloop.demo.simulate import simulate
from promptloop.store import Store, open_store

END = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)


def count(store: Store, table: str) -> int:
    return int(store.fetch_all(f"SELECT count(*) AS n FROM {table}")[0]["n"])


def test_load_demo_is_idempotent(store: Store) -> None:
    assert not demo_is_loaded(store)
    first = load_demo(store, interactions=1_500, end=END, seed=5)
    expected = simulate(interactions=1_500, end=END, seed=5)
    unique_feedback = len({f.feedback_id for f in expected.feedback})
    assert first["interactions"] == first["generated_interactions"] == 1_500
    assert first["feedback_events"] == unique_feedback
    assert first["generated_feedback_events"] == len(expected.feedback)
    assert first["end"] == END.isoformat()
    assert demo_is_loaded(store)
    assert count(store, "llm_interaction_logs") == 1_500
    assert count(store, "feedback_events") == unique_feedback

    second = load_demo(store, interactions=1_500, end=END, seed=5)
    assert second["interactions"] == 0
    assert second["feedback_events"] == 0
    assert count(store, "llm_interaction_logs") == 1_500
    assert count(store, "feedback_events") == unique_feedback


def test_stored_rows_round_trip(store: Store) -> None:
    load_demo(store, interactions=300, end=END, seed=9)
    expected = simulate(interactions=300, end=END, seed=9).interactions[0]
    row = store.fetch_all(
        "SELECT * FROM llm_interaction_logs WHERE interaction_id = :id",
        {"id": expected.interaction_id},
    )[0]
    assert row["prompt_version"] == expected.prompt_version
    assert row["user_input"] == expected.user_input
    assert row["metadata"]["simulated"] is True
    assert row["timestamp"] == expected.timestamp


def test_load_without_end_reuses_the_stored_period(store: Store) -> None:
    # The default end is "now": a second load must find the first one's period, not add a
    # second copy shifted by however much time passed in between.
    first = load_demo(store, interactions=400, seed=3)
    second = load_demo(store, interactions=400, seed=3)
    assert first["interactions"] == 400
    assert second["interactions"] == second["feedback_events"] == 0
    assert second["end"] == first["end"]
    assert count(store, "llm_interaction_logs") == 400


def test_an_interrupted_load_is_completed(store: Store) -> None:
    traffic = simulate(interactions=600, end=END, seed=4)
    store.insert_interactions(traffic.interactions[:250])
    result = load_demo(store, interactions=600, end=END, seed=4)
    assert result["interactions"] == 350
    assert count(store, "llm_interaction_logs") == 600


def test_load_into_a_duckdb_file(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path}/x.duckdb"
    store = open_store(url)
    try:
        assert load_demo(store, interactions=800, end=END)["interactions"] == 800
    finally:
        store.close()
    reopened = open_store(url)
    try:
        assert demo_is_loaded(reopened)
        assert load_demo(reopened, interactions=800, end=END)["interactions"] == 0
        assert count(reopened, "llm_interaction_logs") == 800
    finally:
        reopened.close()


def test_the_demo_writes_its_prompt_history_into_the_registry(store: Store) -> None:
    from promptloop.prompts import PromptRegistry

    load_demo(store, interactions=1_500, end=END)
    load_demo(store, interactions=1_500, end=END)  # a second load writes no second history
    registry = PromptRegistry(store)
    assert registry.unregistered_versions() == []
    summarizer = registry.versions("note_summarizer")
    assert [v.version for v in summarizer] == ["1.3.0", "1.4.0", "1.4.1"]
    assert summarizer[1].rationale.startswith("Bullet-only summaries")
    moves = registry.deployments("note_summarizer", label="production")
    assert [d.to_version for d in moves] == ["1.3.0", "1.4.0", "1.4.1"]
